"""Piccolo's configuration: the engine reads DATABASE_URL, which the CLI or the tests set first."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(
    config={
        "dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gridcase"),
        # JIT compiled for half a second a batch point lookup that runs in 140 ms without it
        # (bench/geo_assign.py); Gridcase's queries are short. asyncpg prepares every statement and
        # PostgreSQL would switch to a generic plan after five runs, but spatial and scope-key
        # selectivity depend on the values: plan each statement with its values.
        "server_settings": {"jit": "off", "plan_cache_mode": "force_custom_plan"},
    },
    extensions=("postgis",),
)

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
