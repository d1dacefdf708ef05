"""SQLAlchemy Core views of the tables `geo/` reads and writes, with geoalchemy2 geometry types.

Piccolo owns the schema (server/tables.py and its migrations): these declarations only name the
columns `geo/` needs, never create anything (`spatial_index=False`, no `create_all`). The engine
speaks asyncpg to the same DATABASE_URL as Piccolo; asyncpg connections belong to one event loop,
so there is one engine per running loop (the tests, the app and each CLI `asyncio.run`).
"""

from __future__ import annotations

import asyncio
import os
import weakref

from geoalchemy2 import Geometry
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, Text, and_
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from server.domain import Actor
from server.scope import actor_deny_keys, actor_scope_keys

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

DISTRICTS = Table(
    "districts",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("code", String),
    Column("repeat_radius_m", Float),
    Column("repeat_days", Integer),
)

UNITS = Table(
    "units",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("parent_id", Integer),
    Column("code", String),
    Column("name", String),
)

USERS = Table(
    "app_users",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("username", String),
    Column("role", String),
    Column("unit_id", Integer),
)

GRIDS = Table(
    "grids",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("parent_id", Integer),
    Column("code", String),
    Column("name", String),
    Column("level", String),
    Column("unit_id", Integer),
    Column("area_m2", Float),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
)

GRID_WORKERS = Table(
    "grid_workers",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("grid_id", Integer),
    Column("user_id", Integer),
)

CATEGORIES = Table(
    "categories",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("code", String),
)

ROUTING_RULES = Table(
    "routing_rules",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("district_id", Integer),
    Column("category_id", Integer),
    Column("grid_id", Integer),
    Column("unit_id", Integer),
    Column("co_unit_ids", ARRAY(Integer)),
)

CASES = Table(
    "cases",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("district_id", Integer),
    Column("ticket", String),
    Column("type", String),
    Column("category_id", Integer),
    Column("urgency", String),
    Column("status", String),
    Column("grid_id", Integer),
    Column("address", Text),
    Column("complainant_phone", String),
    Column("anonymous", Boolean),
    Column("registered_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("warn_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("scope_keys", ARRAY(String)),
    Column("repeat_of", UUID(as_uuid=True)),
    Column("location", Geometry("POINT", srid=4326, spatial_index=False)),
)

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
