"""Verify and heal: a phone's copy of its scope against the server's, in one round trip (DESIGN §7).

A healthy phone costs one aggregate over the rows of its scope, with no case read out. For each
bucket that differs, every case of it in scope comes back whole, so the phone replaces that
bucket: lost cases return, stale versions are overwritten and cases that left its scope drop out.
"""

from __future__ import annotations

from server.accounts.domain import Actor
from server.cases.scope import visibility_sql
from server.cases.service import VIEW_COLUMNS, case_views
from server.db import fetch
from sync.checksums import BUCKET_SQL, BUCKETS, bucket_of, bucket_sums_sql, differing
from sync.protocol import RepairedBucket, VerifyResponse

__all__ = ["verify"]


async def verify(actor: Actor, phone: list[str]) -> VerifyResponse:
    visible, args = visibility_sql(actor)
    server = ["0"] * BUCKETS
    for row in await fetch(bucket_sums_sql(visible), *args):
        server[row["bucket"]] = row["checksum"]
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
