"""A register with deliberately confusing entries, in the demo cells of a test world.

- the same number on two roads: 长宁路100号 (cell A, street 1) and 延安西路100号 (cell C);
- a near number: 长宁路10号 (cell A);
- two compounds named 华山小区 in different streets: at 长宁路200号 (cell A, street 1) and
  江苏路8号 (cell B, street 2), each with building 3, entrance 2;
- a named place inside a compound: 阳光幼儿园 in the first 华山小区, 20 m from its gate;
- a market, 长宁路菜市场 (cell C).
"""

from __future__ import annotations

import csv
import io

from geo.addresses.register import import_addresses
from server.db import fetch
from tests.support import World

CELL_A, CELL_B, CELL_C = "D1-S1-C1-01", "D1-S2-C1-01", "D1-S1-C2-01"
FIELDS = ("id", "kind", "road", "number", "compound", "building", "unit", "name", "lat", "lon")


async def spots(grid_id: int, n: int) -> list[tuple[float, float]]:
    """`n` points well inside a cell (about 90 m off its edges), as (lat, lon), the same every run."""
    rows = await fetch(
        "SELECT ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon FROM grids g, "
        "ST_Dump(ST_GeneratePoints(ST_Buffer(g.geom, -0.0009), {}, 7)) AS p WHERE g.id = {}",
        n,
        grid_id,
    )
    return [(round(r["lat"], 6), round(r["lon"], 6)) for r in rows]


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def confusing_rows(world: World) -> list[dict]:
    a = await spots(world.grids[CELL_A], 4)
    b = await spots(world.grids[CELL_B], 1)
    c = await spots(world.grids[CELL_C], 2)
    gate_lat, gate_lon = a[2]
    return [
        dict(id="e1", kind="door", road="长宁路", number="100", lat=a[0][0], lon=a[0][1]),
        dict(id="e2", kind="door", road="延安西路", number="100", lat=c[0][0], lon=c[0][1]),
        dict(id="e3", kind="door", road="长宁路", number="10", lat=a[1][0], lon=a[1][1]),
        dict(
            id="e4",
            kind="compound",
            road="长宁路",
            number="200",
            compound="华山小区",
            lat=gate_lat,
            lon=gate_lon,
        ),
        dict(
            id="e5", kind="compound", road="江苏路", number="8", compound="华山小区", lat=b[0][0], lon=b[0][1]
        ),
        dict(
            id="e6",
            kind="door",
            road="长宁路",
            number="200",
            compound="华山小区",
            building="3",
            unit="2",
            lat=gate_lat + 0.0001,
            lon=gate_lon,
        ),
        dict(
            id="e7",
            kind="door",
            road="江苏路",
            number="8",
            compound="华山小区",
            building="3",
            unit="2",
            lat=b[0][0] + 0.0001,
            lon=b[0][1],
        ),
        dict(
            id="e8", kind="place", compound="华山小区", name="阳光幼儿园", lat=gate_lat, lon=gate_lon + 0.0002
        ),
        dict(id="e9", kind="place", name="长宁路菜市场", lat=c[1][0], lon=c[1][1]),
    ]


async def load_confusing(world: World) -> dict[str, int]:
    """Import the register; its entry ids by the file's ids."""
    report = await import_addresses(world.district_id, csv_bytes(await confusing_rows(world)))
    assert report.committed and not report.problems, report.problems
    rows = await fetch("SELECT key, id FROM addresses WHERE district_id = {}", world.district_id)
    return {r["key"]: r["id"] for r in rows}
