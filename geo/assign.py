"""Point → grid cell → unit and grid workers (DESIGN §2).

On a shared edge `ST_Covers` is true for both cells (shared/STACK.md), so the tie is broken by
the lowest cell id: the same point always lands in the same cell.
"""

from __future__ import annotations

import msgspec

from server.tables import Grid

__all__ = ["Placement", "locate"]


class Placement(msgspec.Struct, frozen=True):
    grid_id: int
    grid_code: str
    unit_id: int | None
    worker_ids: tuple[int, ...]


async def locate(district_id: int, lat: float, lon: float) -> Placement | None:
    """The cell covering the point, or None when the point lies outside every cell."""
    rows = await Grid.raw(
        "SELECT g.id, g.code, g.unit_id, coalesce(array_agg(w.user_id ORDER BY w.user_id) "
        "FILTER (WHERE w.user_id IS NOT NULL), ARRAY[]::integer[]) AS workers "
        "FROM grids g LEFT JOIN grid_workers w ON w.grid_id = g.id "
        "WHERE g.district_id = {} AND g.level = 'cell' AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint({}, {}), 4326)) "
        "GROUP BY g.id ORDER BY g.id LIMIT 1",
        district_id, lon, lat,
    )
    if not rows:
        return None
    r = rows[0]
    return Placement(grid_id=r["id"], grid_code=r["code"], unit_id=r["unit_id"], worker_ids=tuple(r["workers"]))
