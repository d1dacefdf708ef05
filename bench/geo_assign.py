"""Point → cell assignment speed: a synthetic city of 50,000 cells, 100,000 random GPS points.

Run: `.venv/bin/python bench/geo_assign.py` (uses DATABASE_URL if set, else a throwaway private
cluster). The city is a 250 × 200 lattice of 100 m cells near 31.2 N 121.4 E, grouped into
communities, streets, a district and a city the way an import stores them, all in the one GiST
index on `grids.geom`. Points are uniform over the city and a margin around it, so some fall
outside every cell. Each point's expected cell follows from the lattice arithmetic, so every
answer is checked, not only timed. Prints the query plan (it must use a spatial index) and
points per second; the goal on a 2-core machine is 10,000 points/s or more. On its throwaway
cluster it then measures again with the partial index on cells proposed for the migrations.

GEO_BENCH_POINTS, GEO_BENCH_BATCH and GEO_BENCH_CONCURRENCY tune a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLS, ROWS = 250, 200
CELL_DEG = 0.001  # about 95 m × 111 m
WEST, SOUTH = 121.30, 31.10
COMMUNITY = 10  # a community is 10 × 10 cells, a street 5 × 5 communities
POINTS = int(os.environ.get("GEO_BENCH_POINTS", "100000"))
BATCH = int(os.environ.get("GEO_BENCH_BATCH", "2000"))
CONCURRENCY = int(os.environ.get("GEO_BENCH_CONCURRENCY", "2"))
MARGIN = 0.01
# Not in the migrations (yet): a partial index holding only cells, so a lookup neither walks nor
# fetches the street, community, district and city polygons that also cover every point.
PROPOSED_INDEX_NAME = "grids_cell_geom_spgist"
PROPOSED_INDEX = f"CREATE INDEX {PROPOSED_INDEX_NAME} ON grids USING spgist (geom) WHERE level = 'cell'"

# Integer lattice coordinates make shared edges exact; codes sort as row-major order.
CITY_SQL = """
WITH district AS (
    INSERT INTO districts (code, name) VALUES ({}, 'Benchmark city') RETURNING id
), k AS (
    -- Typed once here: asyncpg would otherwise infer integers from `c * size` and truncate.
    SELECT {}::float8 AS x0, {}::float8 AS y0, {}::float8 AS d, {}::int AS cols, {}::int AS rows,
           {}::int AS n
), cells AS (
    SELECT c, r FROM k, generate_series(0, k.cols - 1) c, generate_series(0, k.rows - 1) r
), boxes AS (
    SELECT format('cell-%s-%s', lpad(r::text, 3, '0'), lpad(c::text, 3, '0')) AS code, 'cell' AS level,
           c AS c0, r AS r0, 1 AS span
    FROM cells
    UNION ALL
    SELECT format('community-%s-%s', r / n, c / n), 'community', c, r, n
    FROM cells, k WHERE c % n = 0 AND r % n = 0
    UNION ALL
    SELECT format('street-%s-%s', r / (5 * n), c / (5 * n)), 'street', c, r, 5 * n
    FROM cells, k WHERE c % (5 * n) = 0 AND r % (5 * n) = 0
)
INSERT INTO grids (district_id, code, name, level, geom)
SELECT district.id, code, code, level, ST_Multi(ST_MakeEnvelope(x0 + c0 * d, y0 + r0 * d,
       x0 + least(c0 + span, cols) * d, y0 + least(r0 + span, rows) * d, 4326))
FROM district, k, boxes
UNION ALL
SELECT district.id, 'district', 'district', 'district',
       ST_Multi(ST_MakeEnvelope(x0, y0, x0 + cols * d, y0 + rows * d, 4326)) FROM district, k
UNION ALL
SELECT district.id, 'city', 'city', 'city',
       ST_Multi(ST_MakeEnvelope(x0 - 0.5, y0 - 0.5, x0 + cols * d + 0.5, y0 + rows * d + 0.5, 4326))
FROM district, k
"""


def expected_code(lat: float, lon: float) -> str | None:
    c, r = (lon - WEST) / CELL_DEG, (lat - SOUTH) / CELL_DEG
    if not (0 <= c < COLS and 0 <= r < ROWS):
        return None
    return f"cell-{int(r):03d}-{int(c):03d}"


def near_edge(lat: float, lon: float) -> bool:
    """Within float noise of a lattice line: the answer there is the tie-break's, not arithmetic's."""
    return any(abs(v / CELL_DEG - round(v / CELL_DEG)) < 1e-6 for v in (lon - WEST, lat - SOUTH))


async def build_city(code: str) -> int:
    from server.db import fetch

    await fetch(CITY_SQL, code, WEST, SOUTH, CELL_DEG, COLS, ROWS, COMMUNITY)
    await fetch("ANALYZE grids")
    return (await fetch("SELECT id FROM districts WHERE code = {}", code))[0]["id"]


async def explain(district_id: int, sample: list[tuple[float, float]]) -> str:
    from geo.assign import LOCATE_SQL
    from server.db import fetch

    lons, lats = [p[1] for p in sample], [p[0] for p in sample]
    rows = await fetch(f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) {LOCATE_SQL}", lons, lats, district_id)
    return "\n".join(r["QUERY PLAN"] for r in rows)


async def spatial_indexes() -> list[str]:
    from server.db import fetch

    rows = await fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'grids' AND indexdef LIKE '%(geom)%'"
    )
    return [r["indexname"] for r in rows]


async def measure(district_id: int, points: list[tuple[float, float]], label: str) -> bool:
    """One timed pass over every point; True when the plan used a spatial index and no answer was wrong."""
    from geo.assign import locate_many

    print(f"\n== {label}")
    plan = await explain(district_id, points[:5])
    print("query plan (EXPLAIN ANALYZE, 5 points):\n" + plan)
    used = [name for name in await spatial_indexes() if name in plan]
    print(f"spatial index used: {', '.join(used) if used else 'NONE'}")
    await locate_many(district_id, points[:BATCH])  # warm the pool and the caches
    gate = asyncio.Semaphore(CONCURRENCY)

    async def batch(chunk):
        async with gate:
            return await locate_many(district_id, chunk)

    started = time.perf_counter()
    chunks = [points[i : i + BATCH] for i in range(0, len(points), BATCH)]
    results = [p for part in await asyncio.gather(*(batch(c) for c in chunks)) for p in part]
    elapsed = time.perf_counter() - started
    wrong = sum(
        1
        for (lat, lon), got in zip(points, results, strict=True)
        if not near_edge(lat, lon) and (got.grid_code if got else None) != expected_code(lat, lon)
    )
    outside = sum(1 for r in results if r is None)
    rate = len(points) / elapsed
    print(
        f"{len(points):,} points in {elapsed:.2f} s: {rate:,.0f} points/s "
        f"(batches of {BATCH}, {CONCURRENCY} at a time); {outside:,} outside every cell; {wrong} wrong"
    )
    print(f"goal 10,000 points/s: {'met' if rate >= 10_000 else 'NOT met'}")
    return bool(used) and not wrong


async def run(url: str, throwaway: bool) -> int:
    os.environ["DATABASE_URL"] = url
    from server.db import close_pool, fetch, start_pool

    await start_pool(max_size=CONCURRENCY + 1)
    code = f"bench-{os.getpid()}"
    try:
        started = time.perf_counter()
        district_id = await build_city(code)
        print(
            f"built {COLS * ROWS:,} cells (+ communities, streets, district, city) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        rng = random.Random(7)
        points = [
            (
                rng.uniform(SOUTH - MARGIN, SOUTH + ROWS * CELL_DEG + MARGIN),
                rng.uniform(WEST - MARGIN, WEST + COLS * CELL_DEG + MARGIN),
            )
            for _ in range(POINTS)
        ]
        ok = await measure(district_id, points, "schema as migrated")
        if throwaway and PROPOSED_INDEX_NAME not in await spatial_indexes():
            # Only on the throwaway cluster: what the proposed migration would give.
            await fetch(PROPOSED_INDEX)
            await fetch("ANALYZE grids")
            ok = await measure(district_id, points, f"with the proposed index: {PROPOSED_INDEX}") and ok
        return 0 if ok else 1
    finally:
        await fetch("DELETE FROM grids WHERE district_id = (SELECT id FROM districts WHERE code = {})", code)
        await fetch("DELETE FROM districts WHERE code = {}", code)
        await close_pool()


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    if url:
        return asyncio.run(run(url, throwaway=False))
    from server.db import migrate
    from server.embedded.cluster import scratch_cluster

    with scratch_cluster("bench") as url:
        migrate(url)
        return asyncio.run(run(url, throwaway=True))


if __name__ == "__main__":
    sys.exit(main())
