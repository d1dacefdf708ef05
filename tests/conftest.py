"""Test set-up: one throwaway PostgreSQL + PostGIS cluster per session (or TEST_DATABASE_URL).

The database URL must be in the environment before Piccolo's engine is first touched, so it is
set while this file is imported, before any test module imports the tables. Tests never share a
district: each builds its own with `server.seed`, so no cleanup between tests is needed.
"""

from __future__ import annotations

import atexit
import os

import pytest

from server.db import migrate
from server.embedded.cluster import scratch_cluster

_DB_TESTS = ("tests/unit",)
# A `gridcase run` a test starts on the shared test database would run the alert worker on the real
# clock and deliver other tests' alerts; tests run the worker only where they mean to.
os.environ.setdefault("GRIDCASE_ALERT_WORKER", "0")

# Cheap password hashing for every log-in of the session, servers started as subprocesses
# included (they inherit the environment); tests of the real cost set their own Settings.
os.environ.setdefault("GRIDCASE_ARGON2_TIME_COST", "1")
os.environ.setdefault("GRIDCASE_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("GRIDCASE_ARGON2_PARALLELISM", "1")


def _database() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    # Entered for the session, left when the interpreter exits.
    scratch = scratch_cluster("test")
    url = scratch.__enter__()
    atexit.register(scratch.__exit__, None, None, None)
    return url


def pytest_configure(config: pytest.Config) -> None:
    # Unit tests of pure rules need no database; anything else gets one, migrated once.
    args = [str(a) for a in config.args]
    if args and all(any(p in a for p in _DB_TESTS) for a in args):
        return
    url = _database()
    os.environ["DATABASE_URL"] = url
    migrate(url)


pytest_plugins = ["tests.fixtures"]
