"""The one way to the database: Piccolo's engine and pool, raw SQL through `fetch`, migrations.

`fetch("… {} …", *args)` takes the same `{}` placeholders as Piccolo's `Table.raw` and runs on the
connection of Piccolo's current transaction (or its pool), so it joins the same transactions.
It skips Piccolo's per-call SQL templating, which cost as much as the database round trip
itself on a push (profiled with pyinstrument): the translated SQL is cached per query text.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, cast

from asyncpg import exceptions as pg
from piccolo.engine.postgres import PostgresEngine

from server.settings import ROOT
from server.tables import Case

__all__ = [
    "close_pool",
    "fetch",
    "is_outage",
    "migrate",
    "new_connection",
    "raw_sql_migration",
    "start_pool",
    "transaction",
]

# PostgreSQL is away rather than the query wrong: the connection broke or was refused (SQLSTATE
# class 08), the server is starting, stopping or crashed (57P01–57P03), or it has no connection
# slot or disk left (class 53).
_OUTAGES = (
    pg.PostgresConnectionError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.CannotConnectNowError,
    pg.InsufficientResourcesError,
)


def _engine() -> PostgresEngine:
    return cast(PostgresEngine, Case._meta.db)


async def _keep_session(connection: Any) -> None:
    """Gridcase sets no session state (no LISTEN, advisory locks, SET), so a released connection
    needs no `RESET ALL` round trip; asyncpg still rolls back an unfinished transaction."""


class _QuietPoolOutages(logging.Filter):
    """asyncpg's pool logs a traceback every time it fails to reconnect while PostgreSQL is away;
    one line a minute says as much (the API logs its own line when a request meets the outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.last = -math.inf

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not is_outage(exc):
            return True
        if time.monotonic() - self.last < 60:
            return False
        self.last = time.monotonic()
        record.msg, record.args = f"{record.getMessage()} ({type(exc).__name__}: {exc})", ()
        record.exc_info, record.exc_text = None, None
        return True


_POOL_LOG = logging.getLogger("asyncpg.pool")


async def start_pool(max_size: int = 20) -> None:
    if not any(isinstance(f, _QuietPoolOutages) for f in _POOL_LOG.filters):
        _POOL_LOG.addFilter(_QuietPoolOutages())
    await _engine().start_connection_pool(min_size=1, max_size=max_size, reset=_keep_session)


async def close_pool() -> None:
    await _engine().close_connection_pool()


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    parts = sql.split("{}")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    engine = _engine()
    query = _numbered(sql)
    transaction = engine.current_transaction.get()
    if transaction is not None:
        return [dict(r) for r in await transaction.connection.fetch(query, *args)]
    if engine.pool is not None:
        async with engine.pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(query, *args)]
    connection = await engine.get_new_connection()
    try:
        return [dict(r) for r in await connection.fetch(query, *args)]
    finally:
        await connection.close()


async def new_connection() -> Any:
    """A connection of its own, outside the pool, for a session that keeps state (`sync.watch`'s LISTEN)."""
    return await _engine().get_new_connection()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it arose from (`__cause__`, `__context__`): a failed rollback on a
    cut connection names the cut in its context."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def _from_driver(exc: BaseException) -> bool:
    """Raised inside asyncpg: a refused or reset socket while connecting, not a file or HTTP error."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("asyncpg."):
            return True
        tb = tb.tb_next
    return False


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached right now, so the request may be retried unchanged."""
    return any(
        isinstance(e, _OUTAGES) or (isinstance(e, OSError | TimeoutError) and _from_driver(e))
        for e in _causes(exc)
    )


def transaction() -> Any:
    """A transaction on the pool; `fetch` and Piccolo queries inside it join it."""
    return _engine().transaction()


def migrate(database_url: str) -> None:
    """Apply Piccolo migrations in a child process, so this process's engine is not created early."""
    env = {**os.environ, "DATABASE_URL": database_url, "PICCOLO_CONF": "piccolo_conf"}
    piccolo = [sys.executable, "-m", "piccolo.main", "migrations", "forwards", "all"]
    done = subprocess.run(piccolo, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or "failed" in done.stdout.lower():
        raise RuntimeError(f"migrations failed:\n{done.stdout}\n{done.stderr}")


def raw_sql_migration(migration_id: str, description: str, forwards: str, backwards: str) -> Any:
    """A Piccolo migration's `forwards` for what Piccolo cannot declare (geometry, triggers, partial
    and composite indexes): each script runs on one plain connection, since a prepared statement
    holds a single command."""
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager
    from piccolo.engine import engine_finder

    async def execute(script: str) -> None:
        engine = engine_finder()
        assert engine is not None, "piccolo_conf names no engine"
        connection = await engine.get_new_connection()  # type: ignore[attr-defined]
        try:
            await connection.execute(script)
        finally:
            await connection.close()

    async def manager() -> MigrationManager:
        built = MigrationManager(migration_id=migration_id, app_name="server", description=description)

        async def run() -> None:
            await execute(forwards)

        async def run_backwards() -> None:
            await execute(backwards)

        built.add_raw(run)
        built.add_raw_backwards(run_backwards)
        return built

    return manager
