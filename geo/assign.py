"""Point → grid cell → unit and grid workers (DESIGN §2).

A WGS84 point belongs to the cell whose polygon covers it (`ST_Covers`, boundary included). On a
shared edge or corner several cells cover it (shared/STACK.md), and where an import reported an
overlap two cells cover a whole area, so the tie-break rule is: **the covering cell with the
smallest code, compared byte by byte** (`COLLATE "C"`, whatever the database's locale). Codes
are what an import keys on, so the answer survives re-imports and does not depend on row ids or
on the order the file listed the cells. A point outside every cell gets `None` from `locate`, and
`nearest_cell` tells how far the closest cell is; nothing here raises on a point.

One SQL statement answers a whole batch (`locate_many`): the points travel as two arrays, and a
lateral sub-query per point walks the GiST index on `grids.geom`.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import ARRAY, Float, Integer, bindparam, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.tables import GRID_WORKERS, GRIDS, engine

__all__ = ["NearestCell", "Placement", "locate", "locate_many", "locate_statement", "nearest_cell"]


class Placement(msgspec.Struct, frozen=True):
    grid_id: int
    grid_code: str
    unit_id: int | None
    worker_ids: tuple[int, ...]


class NearestCell(msgspec.Struct, frozen=True):
    grid_id: int
    grid_code: str
    distance_m: float


def _wgs84_point(lon, lat):
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def locate_statement():
    """The batch query: bind `district_id`, `lons` and `lats`; rows `(i, id, code, unit_id)`, i from 1."""
    points = (
        func.unnest(bindparam("lons", type_=ARRAY(Float)), bindparam("lats", type_=ARRAY(Float)))
        .table_valued("lon", "lat", with_ordinality="i")
        .render_derived(name="p")
    )
    cell = (
        select(GRIDS.c.id, GRIDS.c.code, GRIDS.c.unit_id)
        .where(
            GRIDS.c.district_id == bindparam("district_id", type_=Integer),
            # Inline, so a partial index on cells (WHERE level = 'cell') can serve the query.
            GRIDS.c.level == literal_column("'cell'"),
            func.ST_Covers(GRIDS.c.geom, _wgs84_point(points.c.lon, points.c.lat)),
        )
        .order_by(GRIDS.c.code.collate("C"))
        .limit(1)
        .lateral("c")
    )
    return select(points.c.i, cell.c.id, cell.c.code, cell.c.unit_id).select_from(points.join(cell, true()))


_LOCATE = locate_statement()


async def locate_many(
    district_id: int, points: Sequence[tuple[float, float]], *, conn: AsyncConnection | None = None
) -> list[Placement | None]:
    """Each `(lat, lon)` → its Placement, or None outside every cell; same order as `points`."""
    if not points:
        return []
    params = {"district_id": district_id, "lats": [p[0] for p in points], "lons": [p[1] for p in points]}
    if conn is None:
        async with engine().connect() as own:
            return await _locate_many(own, params, len(points))
    return await _locate_many(conn, params, len(points))


async def _locate_many(conn: AsyncConnection, params: dict, count: int) -> list[Placement | None]:
    hits = (await conn.execute(_LOCATE, params)).all()
    workers: dict[int, tuple[int, ...]] = {}
    if hits:
        ids = sorted({h.id for h in hits})
        rows = await conn.execute(
            select(
                GRID_WORKERS.c.grid_id,
                func.array_agg(aggregate_order_by(GRID_WORKERS.c.user_id, GRID_WORKERS.c.user_id)),
            )
            .where(GRID_WORKERS.c.grid_id.in_(ids))
            .group_by(GRID_WORKERS.c.grid_id)
        )
        workers = {grid_id: tuple(users) for grid_id, users in rows}
    out: list[Placement | None] = [None] * count
    for h in hits:
        out[h.i - 1] = Placement(
            grid_id=h.id, grid_code=h.code, unit_id=h.unit_id, worker_ids=workers.get(h.id, ())
        )
    return out


async def locate(district_id: int, lat: float, lon: float) -> Placement | None:
    """The cell of one point (tie-break in the module docstring), or None outside every cell."""
    return (await locate_many(district_id, [(lat, lon)]))[0]


async def nearest_cell(district_id: int, lat: float, lon: float) -> NearestCell | None:
    """The closest cell and its geodesic distance in metres (0 inside); None if the district has no cells."""
    point = _wgs84_point(lon, lat)
    query = (
        select(
            GRIDS.c.id,
            GRIDS.c.code,
            func.ST_Distance(func.Geography(GRIDS.c.geom), func.Geography(point)).label("distance_m"),
        )
        .where(GRIDS.c.district_id == district_id, GRIDS.c.level == "cell")
        # `<->` orders by planar distance through the GiST index: near enough to pick the closest
        # cell at city scale, and the reported distance is the geodesic one.
        .order_by(GRIDS.c.geom.op("<->")(point), GRIDS.c.code.collate("C"))
        .limit(1)
    )
    async with engine().connect() as conn:
        row = (await conn.execute(query)).first()
    return NearestCell(grid_id=row.id, grid_code=row.code, distance_m=row.distance_m) if row else None


async def cell_at(district_id: int, lat: float, lon: float) -> int | None:
    """The id of the cell holding the point, or None: what intake needs (`server.cases.intake.LocateCell`)."""
    placement = await locate(district_id, lat, lon)
    return placement.grid_id if placement else None
