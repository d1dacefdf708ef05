"""Pull: the cases in a device user's scope changed since its cursor, with tombstones (DESIGN §7).

See `sync.cursor` for why the cursor is a pair of snapshots. Each query reads one range of the
`(district_id, change_xid)` index: from the oldest transaction that was still running at the
last pull to the newest visible now, so an empty re-pull touches a handful of rows.

An empty re-pull is answered from memory when `sync.watch` can prove that nothing in the
caller's keys changed since the cursor; see there for why a lost notification only delays.

Tombstones name only cases the caller could have held: never one of another district, and never
an accusation against the caller (it carries their negative key), even though it left one of
their scope keys. `sync.verify` heals whatever such a rule leaves behind on a phone.
"""

from __future__ import annotations

import uuid
from typing import Any

from server.accounts.domain import Actor
from server.cases.scope import actor_scope_keys, denied_sql, visibility_sql
from server.cases.service import VIEW_COLUMNS, case_views
from server.db import fetch
from sync.cursor import Cursor, decode_cursor, encode_cursor
from sync.protocol import PullResponse
from sync.watch import ChangeLog, Snapshot, district_wide

__all__ = ["pull"]


def _window(cursor: Cursor, until: str) -> tuple[list[str], list[Any]]:
    """Rows whose last change is visible in `until` and, after a first round, not in `since`."""
    where = [
        "change_xid < pg_snapshot_xmax({}::text::pg_snapshot)",
        "pg_visible_in_snapshot(change_xid, {}::text::pg_snapshot)",
    ]
    args: list[Any] = [until, until]
    if cursor.since is not None:
        where += [
            "change_xid >= pg_snapshot_xmin({}::text::pg_snapshot)",
            "NOT pg_visible_in_snapshot(change_xid, {}::text::pg_snapshot)",
        ]
        args += [cursor.since, cursor.since]
    return where, args


async def _current_snapshot() -> str:
    rows = await fetch("SELECT pg_current_snapshot()::text AS s")
    return rows[0]["s"]


async def _departed(actor: Actor, keys: list[str], cursor: Cursor, until: str) -> list[uuid.UUID]:
    """Cases that left one of `keys` in this round, are not visible to the actor now and were
    never denied to them."""
    where, args = _window(cursor, until)
    visible, visible_args = visibility_sql(actor)
    denied, denied_args = denied_sql(actor)
    rows = await fetch(
        f"SELECT DISTINCT d.case_id FROM case_departures d WHERE d.district_id = {{}} "
        f"AND d.scope_key = ANY({{}}::varchar[]) AND {' AND '.join(where)} "
        f"AND NOT EXISTS (SELECT 1 FROM cases WHERE cases.id = d.case_id AND (({visible}) OR {denied}))",
        actor.district_id,
        keys,
        *args,
        *visible_args,
        *denied_args,
    )
    return [r["case_id"] for r in rows]


async def _lost_with_keys(actor: Actor, lost: list[str]) -> list[uuid.UUID]:
    """Cases the actor saw only through keys they no longer hold (their cells were reassigned)."""
    visible, visible_args = visibility_sql(actor)
    denied, denied_args = denied_sql(actor)
    rows = await fetch(
        "SELECT id FROM cases WHERE district_id = {} AND scope_keys && {}::varchar[] "
        f"AND NOT ({visible}) AND NOT {denied}",
        actor.district_id,
        lost,
        *visible_args,
        *denied_args,
    )
    return [r["id"] for r in rows]


def _provably_empty(actor: Actor, cursor: Cursor, keys: tuple[str, ...], memory: ChangeLog | None) -> bool:
    """A re-pull (not a page of a round, same keys) that `sync.watch`'s memory proves would find
    nothing."""
    if memory is None or cursor.since is None or cursor.until is not None or set(cursor.keys) != set(keys):
        return False
    return memory.unchanged(Snapshot.parse(cursor.since), [*keys, district_wide(actor.district_id)])


async def pull(
    actor: Actor, cursor_text: str | None, limit: int, key: bytes, memory: ChangeLog | None = None
) -> PullResponse:
    """`key` signs the cursors (`sync.secret`); `memory`: `sync.watch`'s log, caught up with every
    commit before the request, if there is one."""
    cursor = decode_cursor(cursor_text, key, actor.user_id)
    keys = actor_scope_keys(actor)
    if _provably_empty(actor, cursor, keys, memory):
        # Keeping the cursor as it came keeps the window open for a notification still on its way.
        assert cursor_text is not None
        return PullResponse(cases=[], tombstones=[], cursor=cursor_text, has_more=False)
    until = cursor.until or await _current_snapshot()
    gone: set[uuid.UUID] = set()
    if cursor.since is not None and set(cursor.keys) != set(keys):
        # The user's own scope changed: tombstones for what only the old keys gave, then the whole
        # scope again, since cases under a new key may never have changed since the cursor.
        gone = {
            *await _departed(actor, list(cursor.keys), cursor, until),
            *await _lost_with_keys(actor, sorted(set(cursor.keys) - set(keys))),
        }
        cursor = Cursor(user=actor.user_id, until=until, keys=keys)
    where, args = _window(cursor, until)
    visible, visible_args = visibility_sql(actor)
    where.append(visible)
    args += visible_args
    if cursor.after is not None:
        where.append("(change_xid, id) > ({}::text::xid8, {}::uuid)")
        args += [str(cursor.after[0]), cursor.after[1]]
    rows = await fetch(
        f"SELECT {VIEW_COLUMNS}, change_xid::text AS xid FROM cases WHERE {' AND '.join(where)} "
        "ORDER BY change_xid, id LIMIT {}",
        *args,
        limit + 1,
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    if has_more:
        last = rows[-1]
        next_cursor = Cursor(
            user=actor.user_id,
            since=cursor.since,
            until=until,
            after=(int(last["xid"]), str(last["id"])),
            keys=keys,
        )
    else:
        next_cursor = Cursor(user=actor.user_id, since=until, keys=keys)
        if cursor.since is not None:
            gone.update(await _departed(actor, list(keys), cursor, until))
    return PullResponse(
        cases=case_views(rows, actor),
        tombstones=sorted(gone),
        cursor=encode_cursor(next_cursor, key),
        has_more=has_more,
    )
