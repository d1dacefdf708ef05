"""Piccolo's configuration: the engine reads DATABASE_URL, which the CLI or the tests set first."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(
    config={
        "dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gridcase"),
        # JIT compiles for a quarter of a second a query that runs in milliseconds (a batch point
        # lookup cost 658 ms with it, 140 without: bench/geo_assign.py). Gridcase's queries are short.
        "server_settings": {"jit": "off", "plan_cache_mode": "force_custom_plan"},
    },
    extensions=("postgis",),
)

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
