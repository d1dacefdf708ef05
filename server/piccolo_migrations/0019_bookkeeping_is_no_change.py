"""The alert worker's bookkeeping is not a change a handheld needs (DESIGN §7).

`cases.next_alert_at` is where the alert worker looks next (notify/). Writing it stamped the case's
`change_xid` and notified its scope keys like any change, so each pass of the worker made every
phone holding those cases pull them again, and a pass over a whole district (a statement touching
more keys than a payload holds) sent every empty re-pull of the district to the database. Now an
update that changes nothing but `next_alert_at` keeps the case's `change_xid`, and only rows this
transaction stamped are notified.
"""

from server.db import raw_sql_migration

ID = "2026-12-10T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "bookkeeping updates of cases neither stamp change_xid nor notify"

FORWARDS = """
CREATE OR REPLACE FUNCTION gridcase_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    probe cases;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        probe := NEW;
        probe.next_alert_at := OLD.next_alert_at;
        IF probe IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;  -- only bookkeeping moved: the case is as every phone has it
        END IF;
    END IF;
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gridcase_notify_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gridcase_notify_keys(district_id, array_agg(DISTINCT k::text))
    FROM changed, unnest(scope_keys) k WHERE changed.change_xid = pg_current_xact_id()
    GROUP BY district_id;
    RETURN NULL;
END $$;
"""

BACKWARDS = """
CREATE OR REPLACE FUNCTION gridcase_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gridcase_notify_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gridcase_notify_keys(district_id, array_agg(DISTINCT k::text))
    FROM changed, unnest(scope_keys) k GROUP BY district_id;
    RETURN NULL;
END $$;
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
