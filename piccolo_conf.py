"""Piccolo's configuration: the engine reads DATABASE_URL, which the CLI or the tests set first."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(
    config={"dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gridcase")},
    extensions=("postgis",),
)

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
