"""What Piccolo cannot declare for the address register (`addresses`, created by 0014_address_register).

Piccolo runs a migration's raw SQL before its table operations, so this is a migration of its own.

- `geom geometry(Point, 4326)` with a GiST index: the nearest entry to a point (`<->`, reverse
  geocoding) and the cell an entry falls in.
- `names` (the name tokens of `norm`: roads, compounds, places) with a pg_trgm GiST index, which
  search walks nearest-first by word-similarity distance (`<<->`) as the agent types, and
  `plates` (door-plate numbers, `100号`) with a GIN index, which pins a door on its road.
  Measured over 100,000 entries (bench/geocode.py): numbers in the trigram index (`2单元` is in
  tens of thousands of entries) made every search slow; a GIN trigram index on names still made a
  road's name alone check its 10,000 doors, where the GiST walk stops at the first 50; and a GIN
  index's pending list (fastupdate) after an import cost 10 ms a query until a vacuum, so it is off.
- one entry per (district, key): a re-import updates in place.
"""

from server.db import raw_sql_migration

ID = "2026-12-02T06:04:41:000000"
VERSION = "1.38.0"
DESCRIPTION = "address register: point, trigram and key indexes"

FORWARDS = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE addresses ADD COLUMN geom geometry(Point, 4326) NOT NULL,
    ADD COLUMN names text NOT NULL DEFAULT '', ADD COLUMN plates text[] NOT NULL DEFAULT '{}';
CREATE INDEX addresses_geom_gist ON addresses USING gist (geom);
CREATE INDEX addresses_names_trgm ON addresses USING gist (names gist_trgm_ops (siglen = 64));
CREATE INDEX addresses_plates ON addresses USING gin (plates) WITH (fastupdate = off);
CREATE UNIQUE INDEX addresses_district_key ON addresses (district_id, key);
"""

BACKWARDS = """
DROP INDEX IF EXISTS addresses_geom_gist, addresses_names_trgm, addresses_plates, addresses_district_key;
ALTER TABLE addresses DROP COLUMN IF EXISTS geom, DROP COLUMN IF EXISTS names, DROP COLUMN IF EXISTS plates;
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
