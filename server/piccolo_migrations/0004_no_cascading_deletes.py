from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-23T19:38:32:858753"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="server", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Unit",
        tablename="units",
        column_name="parent_id",
        db_column_name="parent_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="User",
        tablename="app_users",
        column_name="unit_id",
        db_column_name="unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Device",
        tablename="devices",
        column_name="user_id",
        db_column_name="user_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Grid",
        tablename="grids",
        column_name="parent_id",
        db_column_name="parent_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Grid",
        tablename="grids",
        column_name="unit_id",
        db_column_name="unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="RoutingRule",
        tablename="routing_rules",
        column_name="category_id",
        db_column_name="category_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="RoutingRule",
        tablename="routing_rules",
        column_name="grid_id",
        db_column_name="grid_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="RoutingRule",
        tablename="routing_rules",
        column_name="unit_id",
        db_column_name="unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="category_id",
        db_column_name="category_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="grid_id",
        db_column_name="grid_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="lead_unit_id",
        db_column_name="lead_unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="assignee_id",
        db_column_name="assignee_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="accused_unit_id",
        db_column_name="accused_unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="accused_user_id",
        db_column_name="accused_user_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Case",
        tablename="cases",
        column_name="created_by_id",
        db_column_name="created_by_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="CaseEvent",
        tablename="case_events",
        column_name="actor_id",
        db_column_name="actor_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="CaseEvent",
        tablename="case_events",
        column_name="device_id",
        db_column_name="device_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Photo",
        tablename="photos",
        column_name="case_id",
        db_column_name="case_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Photo",
        tablename="photos",
        column_name="before_id",
        db_column_name="before_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Photo",
        tablename="photos",
        column_name="uploaded_by_id",
        db_column_name="uploaded_by_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Photo",
        tablename="photos",
        column_name="device_id",
        db_column_name="device_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Alert",
        tablename="alerts",
        column_name="unit_id",
        db_column_name="unit_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Mutation",
        tablename="mutations",
        column_name="device_id",
        db_column_name="device_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Mutation",
        tablename="mutations",
        column_name="user_id",
        db_column_name="user_id",
        params={"on_delete": OnDelete.no_action},
        old_params={"on_delete": OnDelete.cascade},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
