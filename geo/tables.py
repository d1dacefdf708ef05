"""SQLAlchemy Core views of the tables `geo/` reads and writes, with geoalchemy2 geometry types.

Piccolo owns the schema (server/tables.py and its migrations): these views are derived from the
Piccolo tables plus the geometry columns the migrations add in SQL, and never create anything
(`spatial_index=False`, no `create_all`). The engine
speaks asyncpg to the same DATABASE_URL as Piccolo; asyncpg connections belong to one event loop,
so there is one engine per running loop (the tests, the app and each CLI `asyncio.run`).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from typing import Any

import piccolo.columns as piccolo
from geoalchemy2 import Geometry
from piccolo.table import Table as PiccoloTable
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from server.accounts.domain import Actor
from server.cases.scope import actor_deny_keys, actor_scope_keys
from server.tables import Case, Category, District, Grid, GridWorker, RoutingRule, Unit, User

__all__ = [
    "CATEGORIES",
    "CASES",
    "DISTRICTS",
    "GRIDS",
    "GRID_WORKERS",
    "METADATA",
    "ROUTING_RULES",
    "UNITS",
    "USERS",
    "case_visibility",
    "dispose_engines",
    "engine",
]

METADATA = MetaData()

_SCALARS: dict[type[piccolo.Column], Callable[[], Any]] = {
    piccolo.Serial: Integer,
    piccolo.Integer: Integer,
    piccolo.SmallInt: SmallInteger,
    piccolo.Varchar: String,
    piccolo.Text: Text,
    piccolo.Boolean: Boolean,
    piccolo.DoublePrecision: Float,
    piccolo.Date: Date,
    piccolo.Timestamptz: lambda: DateTime(timezone=True),
    piccolo.UUID: lambda: UUID(as_uuid=True),
    piccolo.JSONB: JSONB,
}


def _sql_type(column: piccolo.Column) -> Any:
    if isinstance(column, piccolo.ForeignKey):
        return _sql_type(column._foreign_key_meta.resolved_references._meta.primary_key)
    if isinstance(column, piccolo.Array):
        return ARRAY(_sql_type(column.base_column))
    return _SCALARS[type(column)]()


def _core(table: type[PiccoloTable], *sql_only: Column) -> Table:
    """The Core twin of a Piccolo table, derived from it so each table is defined once; columns
    Piccolo cannot declare (geometry) are named here, once, as the migrations create them."""
    columns = [
        Column(c._meta.db_column_name, _sql_type(c), primary_key=c._meta.primary_key)
        for c in table._meta.columns
    ]
    return Table(table._meta.tablename, METADATA, *columns, *sql_only)


DISTRICTS = _core(District)
UNITS = _core(Unit)
USERS = _core(User)
GRIDS = _core(Grid, Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)))
GRID_WORKERS = _core(GridWorker)
CATEGORIES = _core(Category)
ROUTING_RULES = _core(RoutingRule)
CASES = _core(Case, Column("location", Geometry("POINT", srid=4326, spatial_index=False)))

_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()


def engine() -> AsyncEngine:
    """The engine of the running event loop, made on first use from DATABASE_URL."""
    loop = asyncio.get_running_loop()
    found = _engines.get(loop)
    if found is None:
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg")
        found = _engines[loop] = create_async_engine(
            url,
            pool_size=4,
            max_overflow=6,
            connect_args={
                # Spatial selectivity depends on the actual geometry and district: plan every statement
                # with its values (asyncpg prepares statements, and PostgreSQL would switch to a generic
                # plan after five runs). JIT would spend ~250 ms compiling a query that runs in a few.
                "server_settings": {"plan_cache_mode": "force_custom_plan", "jit": "off"},
            },
        )
    return found


async def dispose_engines() -> None:
    """Close the running loop's pool (app shutdown, end of a CLI command or test session)."""
    found = _engines.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.dispose()


def case_visibility(actor: Actor) -> ColumnElement[bool]:
    """`server.cases.visibility_sql` for Core queries: the same scope keys, the same GIN index."""
    return and_(
        CASES.c.district_id == actor.district_id,
        CASES.c.scope_keys.overlap(list(actor_scope_keys(actor))),
        ~CASES.c.scope_keys.overlap(list(actor_deny_keys(actor))),
    )
