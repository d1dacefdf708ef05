"""Verify and heal: a phone's copy of its scope against the server's, in one round trip (DESIGN §7).

A healthy phone costs one aggregate over the rows of its scope, with no case read out, and often
not even that: the scope's checksums are remembered with the snapshot they were read in, and
reused while `sync.watch` proves that nothing in the scope's keys changed since (the proof that
answers an empty re-pull from memory). For each bucket that differs, every case of it in scope
comes back whole, so the phone replaces that bucket: lost cases return, stale versions are
overwritten and cases that left its scope drop out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.accounts.domain import Actor
from server.cases.scope import actor_scope_keys, visibility_sql
from server.cases.service import VIEW_COLUMNS, case_views
from server.db import fetch
from sync.checksums import BUCKET_SQL, BUCKETS, bucket_of, bucket_sums_sql, differing
from sync.protocol import RepairedBucket, VerifyResponse
from sync.sessions import CAPACITY, Bounded
from sync.watch import ChangeLog, Snapshot, district_wide

__all__ = ["verify"]

# The checksums of a scope (its visibility clause and arguments) and the snapshot they were read in.
_remembered: Bounded[bytes, tuple[Snapshot, list[str]]] = Bounded(CAPACITY)


async def _checksums(actor: Actor, visible: str, args: list[Any], memory: ChangeLog | None) -> list[str]:
    scope = msgspec.json.encode([visible, args])
    known = _remembered.get(scope)
    keys = [*actor_scope_keys(actor), district_wide(actor.district_id)]
    if memory is not None and known is not None and memory.unchanged(known[0], keys):
        return known[1]
    # The snapshot of the very statement that sums, so the pair describes one state of the scope.
    rows = await fetch(
        f"SELECT pg_current_snapshot()::text AS snapshot, (SELECT coalesce(json_agg(s), '[]') "
        f"FROM ({bucket_sums_sql(visible)}) s)::text AS sums",
        *args,
    )
    server = ["0"] * BUCKETS
    for row in msgspec.json.decode(rows[0]["sums"]):
        server[row["bucket"]] = row["checksum"]
    if memory is not None:
        _remembered.put(scope, (Snapshot.parse(rows[0]["snapshot"]), server))
    return server


async def verify(actor: Actor, phone: list[str], memory: ChangeLog | None = None) -> VerifyResponse:
    """`memory`: `sync.watch`'s log, caught up with every commit before the request, if any."""
    visible, args = visibility_sql(actor)
    server = await _checksums(actor, visible, args, memory)
    buckets = differing(phone, server)
    if not buckets:
        return VerifyResponse(ok=True, repaired=[])
    rows = await fetch(
        f"SELECT {VIEW_COLUMNS} FROM cases WHERE {visible} AND {BUCKET_SQL} = ANY({{}}::int[]) ORDER BY id",
        *args,
        buckets,
    )
    repaired = {b: RepairedBucket(bucket=b, cases=[]) for b in buckets}
    for case in case_views(rows, actor):
        repaired[bucket_of(case.id)].cases.append(case)
    return VerifyResponse(ok=False, repaired=list(repaired.values()))
