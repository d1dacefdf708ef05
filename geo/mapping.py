"""Map queries for the console: grids, cases in a box, per-cell counts (GeoJSON per RFC 7946).

Coordinates are WGS84 `[lon, lat]`; polygon rings are closed and exterior rings run
counter-clockwise (the importer stores them so; `ST_ForcePolygonCCW` keeps it so after
simplifying). Grid outlines are simplified to about half a screen pixel at the requested zoom
(256-pixel Web Mercator tiles), per grid: neighbours are simplified apart, so at low zoom their
shared edges may part by up to that half pixel.

The light of a case is `server.calendar.lights.light_sql`, the SQL form of the one light rule, so
the map can colour and count cases without loading them: yellow from `warn_at` inclusive, red
from `due_at` inclusive, judged at `resolved_at` when the case is resolved, else at the given instant
(bound once, as `clock.now`). Which cases an actor sees is `server.cases.scope.visibility_sql`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from geo.importer import Level
from server.accounts.domain import Actor
from server.calendar.lights import light_sql
from server.calendar.workdays import require_aware
from server.cases.domain import OPEN_STATUSES, Light
from server.cases.scope import visibility_sql
from server.db import fetch
from server.errors import DomainError

__all__ = [
    "BBox",
    "CaseFeature",
    "CaseFeatureCollection",
    "CellCount",
    "CellCounts",
    "GridFeature",
    "GridFeatureCollection",
    "cases_in_bbox",
    "cell_counts",
    "grids_geojson",
    "parse_bbox",
    "tolerance_for_zoom",
]

# Decimal places of map coordinates: 1e-7° is about a centimetre.
_MAP_DIGITS = 7
_TILE_PIXELS = 256

Position = tuple[float, float]


class MultiPolygon(msgspec.Struct, tag_field="type", tag="MultiPolygon"):
    coordinates: list[list[list[Position]]]


class Point(msgspec.Struct, tag_field="type", tag="Point"):
    coordinates: Position


class GridProperties(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    unit_id: int | None
    area_m2: float | None


class GridFeature(msgspec.Struct, tag_field="type", tag="Feature", kw_only=True):
    id: int
    geometry: MultiPolygon
    properties: GridProperties


class GridFeatureCollection(msgspec.Struct, tag_field="type", tag="FeatureCollection", kw_only=True):
    features: list[GridFeature]
    # Foreign members (RFC 7946 §6.1): what was asked, so the console can tell answers apart.
    level: str
    zoom: int
    tolerance_deg: float


class CaseProperties(msgspec.Struct, kw_only=True):
    id: str
    ticket: str
    status: str
    light: Light
    urgency: str
    type: str
    category_id: int | None
    grid_id: int | None


class CaseFeature(msgspec.Struct, tag_field="type", tag="Feature", kw_only=True):
    id: str
    geometry: Point
    properties: CaseProperties


class CaseFeatureCollection(msgspec.Struct, tag_field="type", tag="FeatureCollection", kw_only=True):
    features: list[CaseFeature]
    bbox: tuple[float, float, float, float]
    # True when more cases lie in the box than `limit`: zoom in or raise the limit.
    truncated: bool


class CellCount(msgspec.Struct, kw_only=True):
    grid_id: int
    code: str
    name: str
    open: int
    overdue: int
    green: int
    yellow: int
    red: int


class CellCounts(msgspec.Struct, kw_only=True):
    at: datetime
    cells: list[CellCount]


class BBox(msgspec.Struct, frozen=True, array_like=True):
    min_lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    min_lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    max_lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    max_lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]


def parse_bbox(text: str) -> BBox:
    """`minLon,minLat,maxLon,maxLat` (RFC 7946 order); west > east crosses the antimeridian."""
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        box = msgspec.convert([float(p) for p in parts], BBox)
    except (ValueError, msgspec.ValidationError):
        raise DomainError(
            "invalid_bbox", "bbox must be minLon,minLat,maxLon,maxLat in WGS84 degrees", "bbox", 400
        ) from None
    if box.min_lat > box.max_lat:
        raise DomainError("invalid_bbox", "bbox minLat is above maxLat", "bbox", 400)
    return box


def tolerance_for_zoom(zoom: int) -> float:
    """Half a pixel in degrees at `zoom`: finer detail would not show on the screen."""
    return 360.0 / (_TILE_PIXELS * 2**zoom) / 2


# The instant the lights are judged at, bound once: `FROM cases, (SELECT {}::timestamptz AS now) clock`.
_CLOCK = "(SELECT {}::timestamptz AS now) AS clock"
_LIGHT = light_sql("cases.due_at", "cases.warn_at", "cases.resolved_at", "clock.now")


def _sql(template: str, **clauses: str) -> str:
    """A query template with its `%(name)s` slots filled: the light, the clock and the given clauses
    (each with its own `{}` placeholders, whose arguments the caller passes in text order)."""
    return template % {"light": _LIGHT, "clock": _CLOCK, **clauses}


# Arguments: simplification tolerance (degrees), decimal places, district id, level.
_GRIDS = """
SELECT id, code, name, level, parent_id, unit_id, area_m2,
       ST_AsGeoJSON(ST_ForcePolygonCCW(ST_Multi(ST_SimplifyPreserveTopology(geom, {}))), {}) AS geometry
FROM grids
WHERE district_id = {} AND level = {} AND geom IS NOT NULL
ORDER BY code
"""


async def grids_geojson(district_id: int, level: Level, zoom: int) -> GridFeatureCollection:
    tolerance = tolerance_for_zoom(zoom)
    rows = await fetch(_GRIDS, tolerance, _MAP_DIGITS, district_id, level)
    features = [
        GridFeature(
            id=r["id"],
            geometry=msgspec.json.decode(r["geometry"], type=MultiPolygon),
            properties=GridProperties(
                id=r["id"],
                code=r["code"],
                name=r["name"],
                level=r["level"],
                parent_id=r["parent_id"],
                unit_id=r["unit_id"],
                area_m2=r["area_m2"],
            ),
        )
        for r in rows
    ]
    return GridFeatureCollection(features=features, level=level, zoom=zoom, tolerance_deg=tolerance)


_ENVELOPE = "cases.location && ST_MakeEnvelope({}, {}, {}, {}, 4326)"


def _in_bbox(box: BBox) -> tuple[str, list[float]]:
    """The box as a test the GiST index on `cases.location` answers; two boxes across the antimeridian."""
    if box.min_lon <= box.max_lon:
        return _ENVELOPE, [box.min_lon, box.min_lat, box.max_lon, box.max_lat]
    return (
        f"({_ENVELOPE} OR {_ENVELOPE})",
        [box.min_lon, box.min_lat, 180.0, box.max_lat, -180.0, box.min_lat, box.max_lon, box.max_lat],
    )


# Slots filled by `_sql`; arguments: now, visibility's, the box's, limit.
_CASES_IN_BOX = """
SELECT cases.id, ticket, status, urgency, type, category_id, grid_id, %(light)s AS light,
       ST_X(location) AS lon, ST_Y(location) AS lat
FROM cases, %(clock)s
WHERE %(visible)s AND %(in_box)s
ORDER BY registered_at DESC, cases.id
LIMIT {}
"""


async def cases_in_bbox(actor: Actor, box: BBox, now: datetime, limit: int) -> CaseFeatureCollection:
    """Visible cases located in the box, newest first, at most `limit`."""
    visible, visible_args = visibility_sql(actor)
    in_box, box_args = _in_bbox(box)
    rows = await fetch(
        _sql(_CASES_IN_BOX, visible=visible, in_box=in_box),
        require_aware(now, "now"),
        *visible_args,
        *box_args,
        limit + 1,
    )
    features = [
        CaseFeature(
            id=str(r["id"]),
            geometry=Point(coordinates=(r["lon"], r["lat"])),
            properties=CaseProperties(
                id=str(r["id"]),
                ticket=r["ticket"],
                status=r["status"],
                light=r["light"],
                urgency=r["urgency"],
                type=r["type"],
                category_id=r["category_id"],
                grid_id=r["grid_id"],
            ),
        )
        for r in rows[:limit]
    ]
    return CaseFeatureCollection(
        features=features,
        bbox=(box.min_lon, box.min_lat, box.max_lon, box.max_lat),
        truncated=len(rows) > limit,
    )


# Slots filled by `_sql`; arguments: now, visibility's, open statuses, district id.
_CELL_COUNTS = """
SELECT g.id, g.code, g.name,
       count(c.grid_id) AS open,
       count(c.grid_id) FILTER (WHERE c.overdue) AS overdue,
       count(c.grid_id) FILTER (WHERE c.light = 'green') AS green,
       count(c.grid_id) FILTER (WHERE c.light = 'yellow') AS yellow,
       count(c.grid_id) FILTER (WHERE c.light = 'red') AS red
FROM grids g
LEFT JOIN (
    SELECT cases.grid_id, %(light)s AS light, cases.due_at <= clock.now AS overdue
    FROM cases, %(clock)s
    WHERE %(visible)s AND cases.status = ANY({}::varchar[])
) c ON c.grid_id = g.id
WHERE g.district_id = {} AND g.level = 'cell'
GROUP BY g.id
ORDER BY g.code
"""


async def cell_counts(actor: Actor, now: datetime) -> CellCounts:
    """Per cell of the district: open cases (registered to on site), overdue ones, and their lights.

    Overdue means open with its deadline passed, which is the red light of an open case; the
    lights split the open cases. Cases the actor may not see are not counted.
    """
    visible, visible_args = visibility_sql(actor)
    rows = await fetch(
        _sql(_CELL_COUNTS, visible=visible),
        require_aware(now, "now"),
        *visible_args,
        sorted(OPEN_STATUSES),
        actor.district_id,
    )
    counts = [
        CellCount(
            grid_id=r["id"],
            code=r["code"],
            name=r["name"],
            open=r["open"],
            overdue=r["overdue"],
            green=r["green"],
            yellow=r["yellow"],
            red=r["red"],
        )
        for r in rows
    ]
    return CellCounts(at=now, cells=counts)
