"""Alert worker recording speed over 1,000,000 open cases (issue 13, delivery apart).

Run: `.venv/bin/python bench/alert_scan.py` (uses DATABASE_URL if set, else a throwaway private
cluster). One million dispatched cases are inserted with generate_series, their next light change
spread over the coming month. Then it times:

- a pass with nothing due (best of 20), goal ≤ 10 ms;
- passes that fire 1,000, 10,000 and 100,000 alerts: that many / 2 cases made overdue, each owing a
  red alert to the lead unit's head and a supervision notice to the unit, plus its `supervise` case
  event through the case write path; goal ≥ 5,000 alerts recorded per second, linear in the alerts.

and prints the claim query's plan (EXPLAIN ANALYZE, BUFFERS) for both. ALERT_BENCH_CASES and
ALERT_BENCH_FIRE (comma-separated alert counts) tune a run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = int(os.environ.get("ALERT_BENCH_CASES", "1000000"))
FIRE = [int(n) for n in os.environ.get("ALERT_BENCH_FIRE", "1000,10000,100000").split(",")]

# Literal integers only (formatted in below): `fetch` reads every pair of braces as a placeholder.
CASES_SQL = """
INSERT INTO cases (id, district_id, ticket, channel, type, category_id, status, lead_unit_id,
                   registered_at, dispatched_at, due_at, warn_at, next_alert_at, scope_keys, state)
SELECT gen_random_uuid(), %(district)d, 'B-' || lpad(n::text, 7, '0'), 'phone', 'complaint', %(category)d,
       'dispatched', %(unit)d, t0, t0, t0 + d + interval '1 day', t0 + d, t0 + d,
       ARRAY['district:%(district)d', 'unit:%(unit)d']::varchar[], jsonb_build_object()
FROM generate_series(1, %(cases)d) AS n,
     LATERAL (SELECT now() - interval '1 day' AS t0,
                     make_interval(secs => 172800 + (n::bigint * 7919 %% 2592000)::int) AS d) AS k
"""


async def _setup() -> int:
    from server.db import fetch
    from server.districts import setup as seed

    district = await seed.create_district(f"bench{os.getpid()}", "Benchmark district")
    unit = await seed.add_unit(
        district,
        "bureau",
        "City management bureau",
        leader=("Li", "13800000001"),
        head=("Wang", "13800000002"),
    )
    category = (await fetch("SELECT id FROM categories WHERE district_id = {} LIMIT 1", district))[0]["id"]
    started = time.perf_counter()
    await fetch(CASES_SQL % {"district": district, "category": category, "unit": unit, "cases": CASES})
    await fetch("ANALYZE cases")
    print(f"inserted {CASES:,} open cases in {time.perf_counter() - started:.1f} s")
    return district


CLAIM = (
    "EXPLAIN (ANALYZE, BUFFERS) SELECT c.* FROM cases c WHERE c.next_alert_at <= now() "
    "ORDER BY c.next_alert_at LIMIT 500 FOR UPDATE OF c SKIP LOCKED"
)


async def _plan(title: str) -> None:
    from server.db import fetch, transaction

    class _Rollback(Exception):
        pass

    # Inside a transaction rolled back, so the rows it locks are let go untouched.
    with contextlib.suppress(_Rollback):
        async with transaction():
            rows = await fetch(CLAIM)
            print(f"-- plan, {title}:")
            for r in rows:
                print("   ", r["QUERY PLAN"])
            raise _Rollback


async def _make_due(district: int, n_cases: int) -> None:
    from server.db import fetch

    await fetch(
        "UPDATE cases SET due_at = now() - interval '1 hour', warn_at = now() - interval '1 day', "
        "next_alert_at = now() - interval '1 hour' WHERE id IN (SELECT id FROM cases WHERE district_id = {} "
        "AND NOT supervised AND next_alert_at > now() ORDER BY ticket LIMIT {})",
        district,
        n_cases,
    )
    await fetch("ANALYZE cases")


async def run() -> int:
    from notify.worker import record_due
    from server.db import close_pool, start_pool

    await start_pool(max_size=4)
    try:
        district = await _setup()
        await _plan("nothing due")
        idle = []
        for _ in range(20):
            started = time.perf_counter()
            seen, recorded = await record_due(datetime.now(UTC))
            idle.append(time.perf_counter() - started)
            assert (seen, recorded) == (0, 0), (seen, recorded)
        print(
            f"pass with nothing due: best {min(idle) * 1000:.2f} ms, median {sorted(idle)[10] * 1000:.2f} ms"
        )
        for i, alerts in enumerate(FIRE):
            await _make_due(district, alerts // 2)
            if i == 0:
                await _plan(f"{alerts // 2:,} cases due")
            started = time.perf_counter()
            seen, recorded = await record_due(datetime.now(UTC))
            took = time.perf_counter() - started
            assert recorded == alerts, (recorded, alerts)
            print(
                f"pass firing {recorded:,} alerts ({seen:,} cases, {seen:,} supervise events): "
                f"{took:.2f} s, {recorded / took:,.0f} alerts/s"
            )
    finally:
        await close_pool()
    return 0


def main() -> int:
    from server.embedded.cluster import run_on_database

    return run_on_database(run)


if __name__ == "__main__":
    sys.exit(main())
