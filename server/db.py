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
from functools import lru_cache
from typing import Any

from server.settings import ROOT
from server.tables import Case

__all__ = ["close_pool", "fetch", "migrate", "start_pool", "transaction"]


async def _keep_session(connection: Any) -> None:
    """Gridcase sets no session state (no LISTEN, advisory locks, SET), so a released connection
    needs no `RESET ALL` round trip; asyncpg still rolls back an unfinished transaction."""


async def start_pool(max_size: int = 20) -> None:
    await Case._meta.db.start_connection_pool(min_size=1, max_size=max_size, reset=_keep_session)


async def close_pool() -> None:
    await Case._meta.db.close_connection_pool()


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    parts = sql.split("{}")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    engine = Case._meta.db
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


def transaction() -> Any:
    """A transaction on the pool; `fetch` and Piccolo queries inside it join it."""
    return Case._meta.db.transaction()


def migrate(database_url: str) -> None:
    """Apply Piccolo migrations in a child process, so this process's engine is not created early."""
    env = {**os.environ, "DATABASE_URL": database_url, "PICCOLO_CONF": "piccolo_conf"}
    piccolo = [sys.executable, "-m", "piccolo.main", "migrations", "forwards", "all"]
    done = subprocess.run(piccolo, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or "failed" in done.stdout.lower():
        raise RuntimeError(f"migrations failed:\n{done.stdout}\n{done.stderr}")
