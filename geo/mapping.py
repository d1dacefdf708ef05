"""Map queries for the console: grids, cases in a box, per-cell counts (GeoJSON per RFC 7946).

Coordinates are WGS84 `[lon, lat]`; polygon rings are closed and exterior rings run
counter-clockwise (the importer stores them so; `ST_ForcePolygonCCW` keeps it so after
simplifying). Grid outlines are simplified to about half a screen pixel at the requested zoom
(256-pixel Web Mercator tiles), per grid: neighbours are simplified apart, so at low zoom their
shared edges may part by up to that half pixel.

The light of a case is `server.calendar.lights.light_sql`, the SQL form of the one light rule, so
the map can colour and count cases without loading them: yellow from `warn_at` inclusive, red
from `due_at` inclusive, judged at `resolved_at` when the case is resolved, else at the given instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from sqlalchemy import DateTime, bindparam, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from geo.importer import Level
from geo.tables import CASES, GRIDS, case_visibility, engine
from server.accounts.domain import Actor
from server.calendar.lights import light_sql
from server.calendar.workdays import require_aware
from server.cases.domain import OPEN_STATUSES, Light
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


def _now(now: datetime):
    return bindparam("now", now, DateTime(timezone=True))


def _case_light(now: datetime) -> ColumnElement[str]:
    # The one light rule (server.calendar.lights), judged at the server's `now`: an aware datetime
    # the server made, so its ISO text is safe to inline.
    at = f"'{require_aware(now, 'now').isoformat()}'::timestamptz"
    return literal_column(light_sql("cases.due_at", "cases.warn_at", "cases.resolved_at", at))


async def grids_geojson(district_id: int, level: Level, zoom: int) -> GridFeatureCollection:
    tolerance = tolerance_for_zoom(zoom)
    outline = func.ST_AsGeoJSON(
        func.ST_ForcePolygonCCW(func.ST_Multi(func.ST_SimplifyPreserveTopology(GRIDS.c.geom, tolerance))),
        _MAP_DIGITS,
    )
    query = (
        select(
            GRIDS.c.id,
            GRIDS.c.code,
            GRIDS.c.name,
            GRIDS.c.level,
            GRIDS.c.parent_id,
            GRIDS.c.unit_id,
            GRIDS.c.area_m2,
            outline.label("geometry"),
        )
        .where(GRIDS.c.district_id == district_id, GRIDS.c.level == level, GRIDS.c.geom.is_not(None))
        .order_by(GRIDS.c.code)
    )
    async with engine().connect() as conn:
        rows = (await conn.execute(query)).all()
    features = [
        GridFeature(
            id=r.id,
            geometry=msgspec.json.decode(r.geometry, type=MultiPolygon),
            properties=GridProperties(
                id=r.id,
                code=r.code,
                name=r.name,
                level=r.level,
                parent_id=r.parent_id,
                unit_id=r.unit_id,
                area_m2=r.area_m2,
            ),
        )
        for r in rows
    ]
    return GridFeatureCollection(features=features, level=level, zoom=zoom, tolerance_deg=tolerance)


def _in_bbox(box: BBox):
    def envelope(west: float, east: float):
        return CASES.c.location.op("&&")(func.ST_MakeEnvelope(west, box.min_lat, east, box.max_lat, 4326))

    if box.min_lon <= box.max_lon:
        return envelope(box.min_lon, box.max_lon)
    return or_(envelope(box.min_lon, 180.0), envelope(-180.0, box.max_lon))


async def cases_in_bbox(actor: Actor, box: BBox, now: datetime, limit: int) -> CaseFeatureCollection:
    """Visible cases located in the box, newest first, at most `limit`."""
    light = _case_light(now).label("light")
    query = (
        select(
            CASES.c.id,
            CASES.c.ticket,
            CASES.c.status,
            CASES.c.urgency,
            CASES.c.type,
            CASES.c.category_id,
            CASES.c.grid_id,
            light,
            func.ST_X(CASES.c.location).label("lon"),
            func.ST_Y(CASES.c.location).label("lat"),
        )
        .where(case_visibility(actor), _in_bbox(box))
        .order_by(CASES.c.registered_at.desc(), CASES.c.id)
        .limit(limit + 1)
    )
    async with engine().connect() as conn:
        rows = (await conn.execute(query)).all()
    features = [
        CaseFeature(
            id=str(r.id),
            geometry=Point(coordinates=(r.lon, r.lat)),
            properties=CaseProperties(
                id=str(r.id),
                ticket=r.ticket,
                status=r.status,
                light=r.light,
                urgency=r.urgency,
                type=r.type,
                category_id=r.category_id,
                grid_id=r.grid_id,
            ),
        )
        for r in rows[:limit]
    ]
    return CaseFeatureCollection(
        features=features,
        bbox=(box.min_lon, box.min_lat, box.max_lon, box.max_lat),
        truncated=len(rows) > limit,
    )


async def cell_counts(actor: Actor, now: datetime) -> CellCounts:
    """Per cell of the district: open cases (registered to on site), overdue ones, and their lights.

    Overdue means open with its deadline passed, which is the red light of an open case; the
    lights split the open cases. Cases the actor may not see are not counted.
    """
    now_param = _now(now)
    light = _case_light(now)
    is_open = CASES.c.status.in_(sorted(OPEN_STATUSES))
    cases = (
        select(CASES.c.grid_id, light.label("light"), CASES.c.due_at)
        .where(case_visibility(actor), is_open)
        .subquery()
    )
    query = (
        select(
            GRIDS.c.id,
            GRIDS.c.code,
            GRIDS.c.name,
            func.count(cases.c.grid_id).label("open"),
            func.count(cases.c.grid_id).filter(cases.c.due_at <= now_param).label("overdue"),
            *(
                func.count(cases.c.grid_id).filter(cases.c.light == colour).label(colour)
                for colour in ("green", "yellow", "red")
            ),
        )
        .select_from(GRIDS.outerjoin(cases, cases.c.grid_id == GRIDS.c.id))
        .where(GRIDS.c.district_id == actor.district_id, GRIDS.c.level == "cell")
        .group_by(GRIDS.c.id)
        .order_by(GRIDS.c.code)
    )
    async with engine().connect() as conn:
        rows = (await conn.execute(query)).all()
    return CellCounts(
        at=now,
        cells=[
            CellCount(
                grid_id=r.id,
                code=r.code,
                name=r.name,
                open=r.open,
                overdue=r.overdue,
                green=r.green,
                yellow=r.yellow,
                red=r.red,
            )
            for r in rows
        ],
    )
