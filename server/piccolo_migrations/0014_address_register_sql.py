"""What Piccolo cannot declare for the address register (`addresses`, created by 0014_address_register).

Piccolo runs a migration's raw SQL before its table operations, so this is a migration of its own.

- `geom geometry(Point, 4326)` with a GiST index: the nearest entry to a point (`<->`, reverse
  geocoding) and the cell an entry falls in.
- pg_trgm and a GIN trigram index on `norm`, the normalised text that search matches by word
  similarity (`<%`) as the agent types.
- one entry per (district, key): a re-import updates in place.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-02T06:04:41:000000"
VERSION = "1.38.0"
DESCRIPTION = "address register: point, trigram and key indexes"

FORWARDS = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE addresses ADD COLUMN geom geometry(Point, 4326) NOT NULL;
CREATE INDEX addresses_geom_gist ON addresses USING gist (geom);
CREATE INDEX addresses_norm_trgm ON addresses USING gin (norm gin_trgm_ops);
CREATE UNIQUE INDEX addresses_district_key ON addresses (district_id, key);
"""

BACKWARDS = """
DROP INDEX IF EXISTS addresses_geom_gist, addresses_norm_trgm, addresses_district_key;
ALTER TABLE addresses DROP COLUMN IF EXISTS geom;
"""


async def _execute(script: str) -> None:
    # A prepared statement holds one command, so the script runs through one plain connection.
    connection = await engine_finder().get_new_connection()
    try:
        await connection.execute(script)
    finally:
        await connection.close()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="server", description=DESCRIPTION)

    async def run():
        await _execute(FORWARDS)

    async def run_backwards():
        await _execute(BACKWARDS)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
