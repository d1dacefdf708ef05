"""What changed since a cursor, known in memory: LISTEN/NOTIFY on `gridcase_sync` (migration 0016).

Each server process keeps one listening connection. Every statement that writes cases or
departures notifies, at its commit, the writing transaction's id (the same `pg_current_xact_id()`
the stamp trigger writes into `change_xid`) and the scope keys it touched. An empty re-pull is
answered from memory, with the cursor it came with, when this rule proves the database would
find nothing in the caller's keys:

A pull from a cursor whose `since` snapshot is S returns the changes of transactions that are
finished now but were not finished in S (`sync.cursor`): ids at or above S.xmax, or in S's
in-progress list. When the listening session started, it took a snapshot R right after its
LISTEN took effect. PostgreSQL delivers to a listener every notification of a transaction that
commits after the LISTEN, so every transaction not finished in R is, once committed, notified to
this session. If S covers R (every transaction finished in R is finished in S, `Snapshot.covers`),
a transaction finished now and not in S was not finished in R either, so it is notified. If no
notification received names one of the caller's keys with an id at or above S.xmax or in S's
in-progress list, nothing the database would return has been notified: the answer "nothing new"
is the database's answer as of the notifications received so far.

A notification still on its way, or lost with the connection, can only delay a change, never
skip it: the answer keeps the cursor's S, so the next pull asks about the same window again.
Once the connection is lost, nothing is answered from memory until a new session has its own R,
which the old cursors do not cover; their next pull goes to the database and brings back a
cursor that does. A memory bounded by `ChangeLog.capacity` forgets the oldest ids and raises its
floor: a cursor whose S.xmin is below it goes to the database too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from server.db import new_connection

__all__ = ["APPLICATION_NAME", "CHANNEL", "ChangeLog", "Snapshot", "Watch", "district_wide", "watch"]

CHANNEL = "gridcase_sync"
# How the listening connections show in pg_stat_activity.
APPLICATION_NAME = "gridcase-sync-watch"
# How often an idle listening connection is checked, and how long a check may take: a
# connection that dies silently stops answering from memory within about this long.
PING_SECONDS = 5.0
RETRY_SECONDS = 0.5
log = logging.getLogger(__name__)


class Snapshot(msgspec.Struct, frozen=True):
    """A `pg_snapshot` as text `xmin:xmax:xip,…`."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        return _parse_snapshot(text)

    def finished(self, xid: int) -> bool:
        """Whether the transaction had ended (committed or aborted) when the snapshot was taken."""
        return xid < self.xmax and xid not in self.xip

    def covers(self, other: Snapshot) -> bool:
        """Every transaction finished in `other` is finished in this one (a sufficient test)."""
        return other.xmax <= self.xmax and all(not other.finished(x) for x in self.xip)


# Re-pulls bring the same cursor, and so the same snapshot text, again and again.
@functools.lru_cache(maxsize=50_000)
def _parse_snapshot(text: str) -> Snapshot:
    xmin, xmax, xip = text.split(":")
    return Snapshot(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))


def district_wide(district_id: int) -> str:
    """The key a bulk change notifies instead of its keys: every key of the district."""
    return f"*:{district_id}"


class ChangeLog:
    """What one listening session was told, since its snapshot `start`: pure, no I/O."""

    def __init__(self, start: Snapshot, capacity: int = 100_000) -> None:
        self.start = start
        self.capacity = capacity
        # Every notified id at or above `floor` is in `keys_of`.
        self.floor = 0
        self.latest: dict[str, int] = {}
        self.keys_of: dict[int, set[str]] = {}

    def record(self, xid: int, keys: Iterable[str]) -> None:
        touched = self.keys_of.setdefault(xid, set())
        for key in keys:
            touched.add(key)
            if self.latest.get(key, -1) < xid:
                self.latest[key] = xid
        if len(self.keys_of) > self.capacity:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        ids = sorted(self.keys_of)
        self.floor = ids[len(ids) // 2]
        for xid in ids[: len(ids) // 2]:
            del self.keys_of[xid]

    def unchanged(self, since: Snapshot, keys: Iterable[str]) -> bool:
        """True when no transaction unfinished in `since` was notified touching `keys`, and the
        notifications received are all there is to know (see the module docstring)."""
        if not since.covers(self.start) or since.xmin < self.floor:
            return False
        keys = frozenset(keys)
        if any(self.latest.get(key, -1) >= since.xmax for key in keys):
            return False
        return all(keys.isdisjoint(self.keys_of.get(x, ())) for x in since.xip)


Handler = Callable[[str, list[str]], None]


class Watch:
    """The listening session of this process; `log` is None while there is none."""

    def __init__(self) -> None:
        self.log: ChangeLog | None = None
        self.sessions = 0
        self._handlers: list[Handler] = []
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._connection: Any = None
        # The callers of `caught_up` that the next round trip on the listening connection serves.
        self._waiting: asyncio.Future[bool] | None = None
        self._wanted = asyncio.Event()

    def subscribe(self, handler: Handler) -> None:
        """`handler(kind, words)` for each token (`t`) or account (`a`) notification, and with
        kind `reset` whenever a session starts or ends."""
        self._handlers.append(handler)

    async def caught_up(self) -> ChangeLog | None:
        """The session's log once every notification of a transaction that committed before this
        call has been received (None: there is no session, or it was lost meanwhile).

        PostgreSQL sends a listener its pending notifications before it answers a query, so one
        round trip on the listening connection, begun after this call, is that moment. Concurrent
        callers share it: one round trip serves every caller that arrived while the last one was
        on its way."""
        session = self.log
        if session is None:
            return None
        if self._waiting is None:
            self._waiting = asyncio.get_running_loop().create_future()
            self._wanted.set()
        reached = await asyncio.shield(self._waiting)
        return session if reached and self.log is session else None

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process (tests terminate it)."""
        return self._connection.get_server_pid() if self._connection is not None else None

    async def start(self, wait: float = 2.0) -> None:
        """Start listening unless already; wait up to `wait` seconds for the first session."""
        if self.log is not None:
            return  # listening: the hot path of every sync request
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._wanted = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._ready.wait()), wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the connection: start a new session
                log.warning("sync change listener lost (%s); reconnecting", exc)
            await asyncio.sleep(RETRY_SECONDS)

    async def _session(self) -> None:
        connection = await new_connection()
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        pending: list[str] = []
        self._connection = connection
        try:
            await connection.execute(f"SET application_name = '{APPLICATION_NAME}'")
            # Notifications that arrive before the start snapshot is known are kept and replayed.
            await connection.add_listener(CHANNEL, lambda *args: self._receive(args[3], pending))
            start = Snapshot.parse(await connection.fetchval("SELECT pg_current_snapshot()::text"))
            self._begin(ChangeLog(start))
            for payload in pending:
                self._receive(payload, None)
            pending = []
            while not lost.is_set():
                await self._barrier(connection, lost)
        finally:
            self._end()
            self._connection = None
            with contextlib.suppress(Exception):
                connection.terminate()

    async def _barrier(self, connection: Any, lost: asyncio.Event) -> None:
        """One round trip on the listening connection, for the callers of `caught_up` waiting for
        it (or as a check of an idle connection after PING_SECONDS). Under load callers are already
        waiting: no idle wait then, and one turn of the loop lets the callers woken by the same
        burst of requests join this round trip instead of paying for the next one."""
        if not self._wanted.is_set():
            wanted, gone = (asyncio.ensure_future(e.wait()) for e in (self._wanted, lost))
            await asyncio.wait((wanted, gone), timeout=PING_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            wanted.cancel()
            gone.cancel()
        if lost.is_set():
            return
        await asyncio.sleep(0)
        self._wanted.clear()
        waiting, self._waiting = self._waiting, None
        try:
            # The simple query protocol, with asyncpg's own timeout: the cheapest round trip.
            await connection.execute("SELECT 1", timeout=PING_SECONDS)
        finally:
            if waiting is not None and not waiting.done():
                waiting.set_result(not lost.is_set())

    def _begin(self, change_log: ChangeLog) -> None:
        self.log = change_log
        self.sessions += 1
        self._tell("reset", [])
        self._ready.set()

    def _end(self) -> None:
        self.log = None
        self._tell("reset", [])
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_result(False)

    def _receive(self, payload: str, pending: list[str] | None) -> None:
        if self.log is None:
            if pending is not None:
                pending.append(payload)
            return
        kind, *words = payload.split(" ")
        if kind == "c":
            xid, district, *keys = words
            self.log.record(int(xid), [district_wide(int(district))] if keys == ["*"] else keys)
        else:
            self._tell(kind, words)

    def _tell(self, kind: str, words: list[str]) -> None:
        for handler in self._handlers:
            handler(kind, words)


# One per process: each server worker listens on its own connection.
watch = Watch()
