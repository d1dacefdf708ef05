"""A spatial index over cells alone: every point also falls in its street, community, district and
city polygons, and point → cell lookups should not visit them (bench/geo_assign.py: ~10k → ~28k points/s)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T18:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "partial SP-GiST index over grid cells"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="server", description=DESCRIPTION)

    async def run():
        await engine_finder().run_ddl("CREATE INDEX grids_cell_geom_spgist ON grids USING spgist (geom) WHERE level = 'cell'")

    async def run_backwards():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS grids_cell_geom_spgist")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
