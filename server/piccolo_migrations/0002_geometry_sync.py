"""What Piccolo cannot declare: PostGIS geometry, the sync change stamp, composite uniqueness.

- `grids.geom` and `cases.location` with GiST indexes (Piccolo has no geometry type).
- `change_xid xid8`: the transaction that last changed a case or recorded a departure. The sync
  cursor is a PostgreSQL snapshot, so a pull never skips a change whose transaction committed
  late (DESIGN §7). A trigger stamps it so that no write path can forget.
"""

from server.db import raw_sql_migration

ID = "2026-11-23T18:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "geometry, sync change stamps, composite unique indexes"

FORWARDS = """
ALTER TABLE grids ADD COLUMN geom geometry(MultiPolygon, 4326);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);
CREATE INDEX grids_district_level ON grids (district_id, level);
ALTER TABLE cases ADD COLUMN location geometry(Point, 4326);
CREATE INDEX cases_location_gist ON cases USING gist (location);

CREATE FUNCTION gridcase_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
ALTER TABLE cases ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX cases_district_change_xid ON cases (district_id, change_xid);
CREATE TRIGGER cases_stamp_change BEFORE INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION gridcase_stamp_change();
ALTER TABLE case_departures ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX case_departures_district_change_xid ON case_departures (district_id, change_xid);

CREATE UNIQUE INDEX units_district_code ON units (district_id, code);
CREATE UNIQUE INDEX grids_district_code ON grids (district_id, code);
CREATE UNIQUE INDEX categories_district_code ON categories (district_id, code);
CREATE UNIQUE INDEX calendar_years_district_year ON calendar_years (district_id, year);
CREATE UNIQUE INDEX ticket_counters_district_year ON ticket_counters (district_id, year);
CREATE UNIQUE INDEX case_events_case_seq ON case_events (case_id, seq);
CREATE UNIQUE INDEX alerts_case_level_recipient ON alerts (case_id, level, recipient);
CREATE UNIQUE INDEX grid_workers_grid_user ON grid_workers (grid_id, user_id);
CREATE INDEX alerts_pending ON alerts (next_try_at) WHERE status = 'pending';
CREATE INDEX cases_district_status ON cases (district_id, status);
CREATE UNIQUE INDEX cases_district_ticket ON cases (district_id, ticket);
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS cases_stamp_change ON cases;
DROP FUNCTION IF EXISTS gridcase_stamp_change();
ALTER TABLE cases DROP COLUMN IF EXISTS change_xid, DROP COLUMN IF EXISTS location;
ALTER TABLE case_departures DROP COLUMN IF EXISTS change_xid;
ALTER TABLE grids DROP COLUMN IF EXISTS geom;
DROP INDEX IF EXISTS units_district_code, grids_district_code, categories_district_code,
    calendar_years_district_year, ticket_counters_district_year, case_events_case_seq,
    alerts_case_level_recipient, grid_workers_grid_user, alerts_pending, cases_district_status,
    grids_district_level, cases_district_ticket;
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
