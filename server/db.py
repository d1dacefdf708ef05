"""The one way to the database: Piccolo's engine and pool, raw SQL through `fetch`, migrations.

`fetch("… {} …", *args)` takes the same `{}` placeholders as Piccolo's `Table.raw` and runs on the
connection of Piccolo's current transaction (or its pool), so it joins the same transactions.
It skips Piccolo's per-call SQL templating, which cost as much as the database round trip
itself on a push (profiled with pyinstrument): the translated SQL is cached per query text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, cast

from asyncpg import exceptions as pg
from piccolo.engine.postgres import PostgresEngine

from server.settings import ROOT
from server.tables import Case

__all__ = [
    "causes",
    "close_pool",
    "fetch",
    "is_outage",
    "migrate",
    "new_connection",
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


async def start_pool(max_size: int = 20) -> None:
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


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it: SQLAlchemy's `orig`, `__cause__`, `__context__`."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


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
        for e in causes(exc)
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
