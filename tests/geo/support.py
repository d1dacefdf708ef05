"""GeoJSON features and points for the grid tests."""

from __future__ import annotations

from typing import Any

from server.tables import Grid


def box(west: float, south: float, east: float, north: float) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def feature(
    code: str,
    level: str,
    parent: str | None,
    ring: list[list[float]],
    *,
    unit: str | None = "street-1",
    workers: tuple[str, ...] = (),
    geometry: dict | None = None,
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": geometry or {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "code": code,
            "name": code,
            "level": level,
            "parent": parent,
            "unit": unit,
            "workers": list(workers),
        },
    }


async def inside(grid_id: int) -> dict[str, float]:
    """A point surely inside a grid: `{"lat", "lon"}`."""
    rows = await Grid.raw(
        "SELECT ST_Y(p) AS lat, ST_X(p) AS lon "
        "FROM (SELECT ST_PointOnSurface(geom) AS p FROM grids WHERE id = {}) s",
        grid_id,
    )
    return rows[0]
