"""Who is pulling, known in memory: bearer tokens and devices cached, revocations pushed by NOTIFY.

A cached token answers only while `sync.watch` has a listening session: a log-out deletes the
token row, whose trigger notifies its hash at commit, and the entry is dropped when the
notification arrives; a change to users, units, cell workers or devices drops every entry. An
entry is stored only if no notification (nor a session change) arrived while its row was read,
so a read that raced a log-out cannot put the revoked token back. Expiry is checked at each use.
Both caches are bounded (least recently used out).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Generic, NamedTuple, TypeVar

from litestar import Request
from litestar.di import NamedDependency

from server.accounts.domain import Actor
from server.accounts.guards import require_device
from server.accounts.service import actor_for_token, bearer_token, token_hash
from server.settings import Settings
from sync.watch import ChangeLog, watch

__all__ = ["CAPACITY", "Bounded", "SyncCaller", "devices", "own_device", "sync_caller", "tokens"]

# Per server process: a city's handhelds and the office's screens.
CAPACITY = 50_000
K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A mapping of at most `capacity` entries, the least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)


tokens: Bounded[str, tuple[Actor, datetime]] = Bounded(CAPACITY)
devices: Bounded[uuid.UUID, int] = Bounded(CAPACITY)
# Moves on every notification that may make an entry stale, and on every session change.
_epoch = 0


def _on_notice(kind: str, words: list[str]) -> None:
    global _epoch
    _epoch += 1
    if kind == "t" and words != ["*"]:
        for digest in words:
            tokens.entries.pop(digest, None)
    else:
        tokens.entries.clear()
        devices.entries.clear()


watch.subscribe(_on_notice)


class SyncCaller(NamedTuple):
    """Who calls a sync route, `sync.watch`'s log caught up with every commit before the request
    (None when there is no listening session), and the settings."""

    actor: Actor
    memory: ChangeLog | None
    settings: Settings


async def sync_caller(request: Request, settings: NamedDependency[Settings]) -> SyncCaller:
    """The one dependency of the sync routes. One, not three: Litestar resolves sibling
    dependencies in a task group of their own, which cost an empty re-pull a third of its time.
    The log is caught up first, so every log-out committed before the request has been heard."""
    await watch.start()
    memory = await watch.caught_up()
    return SyncCaller(await _cached_actor(request, memory), memory, settings)


async def _cached_actor(request: Request, memory: ChangeLog | None) -> Actor:
    """`provide_actor`, from memory when it may."""
    token = bearer_token(request)
    digest = token_hash(token)
    hit = tokens.get(digest) if memory is not None else None
    if hit is not None and hit[1] > datetime.now(UTC):
        return hit[0]
    epoch = _epoch
    actor, expires_at = await actor_for_token(token)
    if epoch == _epoch and watch.log is not None:
        tokens.put(digest, (actor, expires_at))
    return actor


async def own_device(device_id: uuid.UUID, actor: Actor) -> None:
    """`require_device`, from memory for a device already seen with this user."""
    if watch.log is not None and devices.get(device_id) == actor.user_id:
        return
    epoch = _epoch
    await require_device(device_id, actor)
    if epoch == _epoch and watch.log is not None:
        devices.put(device_id, actor.user_id)
