"""Point → grid cell → unit and grid workers (DESIGN §2).

A WGS84 point belongs to the cell whose polygon covers it (`ST_Covers`, boundary included). On a
shared edge or corner several cells cover it (shared/STACK.md), and where an import reported an
overlap two cells cover a whole area, so the tie-break rule is: **the covering cell with the
smallest code, compared byte by byte** (`COLLATE "C"`, whatever the database's locale). Codes
are what an import keys on, so the answer survives re-imports and does not depend on row ids or
on the order the file listed the cells. A point outside every cell gets `None` from `locate`, and
`nearest_cell` tells how far the closest cell is; nothing here raises on a point.

One SQL statement answers a whole batch (`locate_many`): the points travel as two arrays, and a
lateral sub-query per point walks the partial SP-GiST index on cells (migration 0003), which is
why `level = 'cell'` is written literally: a bound parameter would not match the index's predicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from server.db import fetch

__all__ = [
    "LOCATE_SQL",
    "LocateOut",
    "NearestCell",
    "Placement",
    "cell_at",
    "locate",
    "locate_many",
    "locate_point",
    "nearest_cell",
]


class Placement(msgspec.Struct, frozen=True):
    grid_id: int
    grid_code: str
    unit_id: int | None
    worker_ids: tuple[int, ...]


class NearestCell(msgspec.Struct, frozen=True):
    grid_id: int
    grid_code: str
    distance_m: float


# Arguments: longitudes, latitudes, district id. Rows `(i, id, code, unit_id)`, i from 1.
LOCATE_SQL = """
SELECT p.i, c.id, c.code, c.unit_id
FROM unnest({}::float8[], {}::float8[]) WITH ORDINALITY AS p(lon, lat, i)
CROSS JOIN LATERAL (
    SELECT g.id, g.code, g.unit_id
    FROM grids g
    WHERE g.district_id = {} AND g.level = 'cell'
      AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
    ORDER BY g.code COLLATE "C"
    LIMIT 1
) c
"""
# The workers of the cells found, apart: one aggregate over the set measured faster than a
# sub-query per point (bench/geo_assign.py). Argument: grid ids.
_WORKERS = """
SELECT grid_id, array_agg(user_id ORDER BY user_id) AS user_ids
FROM grid_workers WHERE grid_id = ANY({}::integer[]) GROUP BY grid_id
"""


async def locate_many(district_id: int, points: Sequence[tuple[float, float]]) -> list[Placement | None]:
    """Each `(lat, lon)` → its Placement, or None outside every cell; same order as `points`."""
    if not points:
        return []
    hits = await fetch(LOCATE_SQL, [p[1] for p in points], [p[0] for p in points], district_id)
    workers: dict[int, tuple[int, ...]] = {}
    if hits:
        crews = await fetch(_WORKERS, sorted({h["id"] for h in hits}))
        workers = {c["grid_id"]: tuple(c["user_ids"]) for c in crews}
    out: list[Placement | None] = [None] * len(points)
    for h in hits:
        out[h["i"] - 1] = Placement(
            grid_id=h["id"], grid_code=h["code"], unit_id=h["unit_id"], worker_ids=workers.get(h["id"], ())
        )
    return out


async def locate(district_id: int, lat: float, lon: float) -> Placement | None:
    """The cell of one point (tie-break in the module docstring), or None outside every cell."""
    return (await locate_many(district_id, [(lat, lon)]))[0]


async def cell_at(district_id: int, lat: float, lon: float) -> int | None:
    """The id of the cell holding the point, or None: what intake needs (`server.cases.intake.LocateCell`)."""
    placement = await locate(district_id, lat, lon)
    return placement.grid_id if placement else None


# `<->` orders by planar distance through the spatial index: near enough to pick the closest cell
# at city scale; the distance reported is the geodesic one. Arguments: lon, lat, district id.
_NEAREST_CELL = """
SELECT g.id, g.code, ST_Distance(g.geom::geography, p.point::geography) AS distance_m
FROM grids g, (SELECT ST_SetSRID(ST_MakePoint({}, {}), 4326) AS point) p
WHERE g.district_id = {} AND g.level = 'cell'
ORDER BY g.geom <-> p.point, g.code COLLATE "C"
LIMIT 1
"""


async def nearest_cell(district_id: int, lat: float, lon: float) -> NearestCell | None:
    """The closest cell and its geodesic distance in metres (0 inside); None if the district has no cells."""
    rows = await fetch(_NEAREST_CELL, lon, lat, district_id)
    if not rows:
        return None
    return NearestCell(grid_id=rows[0]["id"], grid_code=rows[0]["code"], distance_m=rows[0]["distance_m"])


class LocateOut(msgspec.Struct, kw_only=True):
    """Where a point falls: its cell, or (`inside` false) the nearest cell and how far it is."""

    inside: bool
    grid_id: int | None = None
    grid_code: str | None = None
    unit_id: int | None = None
    worker_ids: list[int] = []
    nearest: NearestCell | None = None


async def locate_point(district_id: int, lat: float, lon: float) -> LocateOut:
    """The console's point lookup: the cell, its unit and workers, else the nearest cell."""
    placement = await locate(district_id, lat, lon)
    if placement is None:
        return LocateOut(inside=False, nearest=await nearest_cell(district_id, lat, lon))
    return LocateOut(
        inside=True,
        grid_id=placement.grid_id,
        grid_code=placement.grid_code,
        unit_id=placement.unit_id,
        worker_ids=list(placement.worker_ids),
    )
