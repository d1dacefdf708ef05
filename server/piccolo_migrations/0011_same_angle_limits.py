from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSONB
from piccolo.columns.indexes import IndexMethod

# Follows 0005_fewer_case_indexes (2026-11-23T19:42:11:391898); Piccolo orders migrations by ID.
ID = "2026-12-05T10:11:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "per-district same-angle limits (DESIGN §6)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="server", description=DESCRIPTION)

    manager.add_column(
        table_class_name="District",
        tablename="districts",
        column_name="same_angle",
        db_column_name="same_angle",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": "{}",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
