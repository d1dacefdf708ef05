"""Grids from GeoJSON and back (DESIGN §2): validate, repair, report, upsert by (district, code).

A file is a FeatureCollection whose Features carry `code`, `name`, `level` (city, district,
street, community, cell), `parent` (a code, in the file or already stored), `unit` (a unit code),
`workers` (usernames) and a Polygon or MultiPolygon in WGS84 lon/lat.

What an import does, in one transaction:
1. Checks every Feature's shape and references in Python (levels, parents, units, workers,
   coordinates, rings; an unclosed ring is closed and reported).
2. Stages the geometries in a temporary table and lets PostGIS judge them: an invalid polygon is
   repaired with `ST_MakeValid` (method=structure, polygons kept) and reported with its reason;
   one that yields no area is an error. Stored geometries are MultiPolygons with exterior rings
   counter-clockwise (RFC 7946), so an export re-imports unchanged.
3. Upserts level by level (parents first), only rows that really differ, and syncs the workers.
4. Checks the district as it now stands: a grid reaching outside its parent, same-level grids
   overlapping, and gaps of a community not covered by its cells, with areas in m² (geography).
   Differences under `tolerance_m2` are floating-point noise and not reported.
Errors (a Feature that cannot be stored as asked) roll the whole import back; warnings (repairs,
overlaps, gaps, grids outside their parents, cells without a unit) are imported and reported.
Grids missing from a file are kept: a file may carry part of a district, and cases refer to grids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from geoalchemy2 import Geometry
from geoalchemy2.shape import to_shape
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    all_,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from geo.tables import DISTRICTS, GRID_WORKERS, GRIDS, UNITS, USERS, engine

__all__ = [
    "LEVELS",
    "ImportReport",
    "Level",
    "Problem",
    "Progress",
    "district_id_by_code",
    "export_grids",
    "import_grids",
]

Level = Literal["city", "district", "street", "community", "cell"]
LEVELS: tuple[str, ...] = Level.__args__  # type: ignore[attr-defined]
_RANK = {level: i for i, level in enumerate(LEVELS)}
# A file may start below the city: a district or a whole city may be its top.
_ROOT_LEVELS = frozenset({"city", "district"})
_BATCH = 500
# Enough decimals that every double survives the text round trip (export → import unchanged).
_EXPORT_DIGITS = 15

Progress = Callable[[str, int, int], None]
"""`progress(step, done, total)`: called as an import advances, for a progress bar."""


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    severity: Literal["error", "warning"]
    kind: str
    message: str
    code: str | None = None
    # Position of the Feature in the file (0-based), when the problem is about one Feature.
    feature: int | None = None
    # The other grid: the parent a grid leaves, the grid it overlaps.
    other: str | None = None
    area_m2: float | None = None
    # A point (lon, lat) inside the problem's area, to find it on a map.
    at: tuple[float, float] | None = None


class ImportReport(msgspec.Struct, kw_only=True):
    district_id: int
    features: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    # False after a dry run or when errors rolled the import back.
    committed: bool
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class _Properties(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    level: Level
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    parent: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    unit: str | None = None
    workers: list[str] = []


class _Geometry(msgspec.Struct):
    type: str
    coordinates: Any


class _Feature(msgspec.Struct):
    type: Literal["Feature"]
    geometry: _Geometry | None
    properties: dict[str, Any] | None


class _Collection(msgspec.Struct):
    type: Literal["FeatureCollection"]
    features: list[Any]


class _Item(msgspec.Struct, kw_only=True):
    """A Feature that parsed, on its way to PostGIS; `ok` turns false once a check rejects it."""

    index: int
    props: _Properties
    multipolygon: list
    unit_id: int | None
    worker_ids: list[int]
    ok: bool = True


_Ring = list[list[float]]
_STAGE = Table(
    "grid_import",
    MetaData(),
    Column("idx", Integer, primary_key=True),
    Column("code", String),
    Column("name", String),
    Column("level", String),
    Column("parent_code", String),
    Column("unit_id", Integer),
    Column("worker_ids", ARRAY(Integer)),
    Column("ok", Boolean),
    Column("geom", Geometry(srid=4326, spatial_index=False)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


class _Rejected(Exception):
    """A Feature problem that stops the Feature (the message becomes an error Problem)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


async def district_id_by_code(code: str) -> int | None:
    async with engine().connect() as conn:
        return (await conn.execute(select(DISTRICTS.c.id).where(DISTRICTS.c.code == code))).scalar()


def _ring(raw: Any, problems: list[Problem], where: dict[str, Any]) -> _Ring:
    ring = msgspec.convert(raw, list[list[float]])
    if any(len(p) not in (2, 3) for p in ring):
        raise _Rejected("bad_coordinates", "a position must be [lon, lat] or [lon, lat, height]")
    ring = [p[:2] for p in ring]
    for lon, lat in ring:
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise _Rejected("not_wgs84", f"position [{lon}, {lat}] is not WGS84 lon/lat (RFC 7946)")
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
        problems.append(
            Problem(severity="warning", kind="ring_closed", message="an unclosed ring was closed", **where)
        )
    if len(ring) < 4:
        raise _Rejected("bad_ring", "a linear ring needs at least four positions")
    return ring


def _multipolygon(geometry: _Geometry | None, problems: list[Problem], where: dict[str, Any]) -> list:
    if geometry is None or geometry.type not in ("Polygon", "MultiPolygon"):
        kind = "none" if geometry is None else geometry.type
        raise _Rejected("bad_geometry", f"geometry must be a Polygon or MultiPolygon, not {kind}")
    polygons = [geometry.coordinates] if geometry.type == "Polygon" else geometry.coordinates
    try:
        out = [
            [_ring(r, problems, where) for r in msgspec.convert(p, list[Any])]
            for p in msgspec.convert(polygons, list[Any])
        ]
    except msgspec.ValidationError as exc:
        raise _Rejected("bad_coordinates", f"coordinates: {exc}") from None
    if not out or any(not polygon for polygon in out):
        raise _Rejected("bad_geometry", "a polygon needs an exterior ring")
    return out


def _parse(data: bytes, problems: list[Problem]) -> tuple[int, list[tuple[int, _Properties, list]]]:
    """Features that parse, as (index, properties, MultiPolygon coordinates); the rest become errors."""
    try:
        collection = msgspec.json.decode(data, type=_Collection)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        problems.append(
            Problem(severity="error", kind="bad_file", message=f"not a GeoJSON FeatureCollection: {exc}")
        )
        return 0, []
    parsed = []
    seen: set[str] = set()
    for index, raw in enumerate(collection.features):
        where: dict[str, Any] = {"feature": index}
        try:
            feature = msgspec.convert(raw, _Feature)
            props = msgspec.convert(feature.properties or {}, _Properties)
            where["code"] = props.code
            if props.code in seen:
                raise _Rejected("duplicate_code", f"code {props.code!r} appears twice in the file")
            seen.add(props.code)
            parsed.append((index, props, _multipolygon(feature.geometry, problems, where)))
        except msgspec.ValidationError as exc:
            problems.append(Problem(severity="error", kind="bad_feature", message=str(exc), **where))
        except _Rejected as exc:
            problems.append(Problem(severity="error", kind=exc.kind, message=exc.message, **where))
    return len(collection.features), parsed


async def _references(
    conn: AsyncConnection,
    district_id: int,
    parsed: list[tuple[int, _Properties, list]],
    problems: list[Problem],
) -> list[_Item]:
    """Resolve units and workers; check levels and parents against the file and the stored grids."""
    units = dict(
        (await conn.execute(select(UNITS.c.code, UNITS.c.id).where(UNITS.c.district_id == district_id))).all()
    )
    users = {
        r.username: r
        for r in await conn.execute(
            select(USERS.c.username, USERS.c.id, USERS.c.role).where(USERS.c.district_id == district_id)
        )
    }
    stored = dict(
        (
            await conn.execute(select(GRIDS.c.code, GRIDS.c.level).where(GRIDS.c.district_id == district_id))
        ).all()
    )
    in_file = {props.code: props.level for _, props, _ in parsed}
    items = []
    for index, props, coordinates in parsed:
        errors: list[tuple[str, str]] = []
        parent_level = (in_file.get(props.parent) or stored.get(props.parent)) if props.parent else None
        if props.parent is None:
            if props.level not in _ROOT_LEVELS:
                errors.append(("missing_parent", f"a {props.level} needs a parent"))
        elif parent_level is None:
            errors.append(("unknown_parent", f"parent {props.parent!r} is neither in the file nor stored"))
        elif _RANK[parent_level] != _RANK[props.level] - 1:
            errors.append(("wrong_parent_level", f"the parent of a {props.level} cannot be a {parent_level}"))
        unit_id = units.get(props.unit) if props.unit is not None else None
        if props.unit is not None and unit_id is None:
            errors.append(("unknown_unit", f"no unit {props.unit!r} in this district"))
        if props.unit is None and props.level == "cell":
            problems.append(
                Problem(
                    severity="warning",
                    kind="no_unit",
                    message="a cell without a responsible unit",
                    code=props.code,
                    feature=index,
                )
            )
        worker_ids = []
        for username in dict.fromkeys(props.workers):
            user = users.get(username)
            if user is None:
                errors.append(("unknown_worker", f"no user {username!r} in this district"))
            elif user.role != "grid_worker":
                errors.append(("not_a_grid_worker", f"{username!r} is a {user.role}, not a grid_worker"))
            else:
                worker_ids.append(user.id)
        for kind, message in errors:
            problems.append(
                Problem(severity="error", kind=kind, message=message, code=props.code, feature=index)
            )
        items.append(
            _Item(
                index=index,
                props=props,
                multipolygon=coordinates,
                unit_id=unit_id,
                worker_ids=sorted(worker_ids),
                ok=not errors,
            )
        )
    return items


async def _stage(conn: AsyncConnection, items: list[_Item], progress: Progress) -> None:
    await conn.run_sync(lambda sync: _STAGE.create(sync))
    statement = insert(_STAGE).values(
        idx=bindparam("idx"),
        code=bindparam("code"),
        name=bindparam("name"),
        level=bindparam("level"),
        parent_code=bindparam("parent_code"),
        unit_id=bindparam("unit_id"),
        worker_ids=bindparam("worker_ids"),
        ok=bindparam("ok"),
        geom=func.ST_SetSRID(func.ST_GeomFromGeoJSON(bindparam("geojson")), 4326),
    )
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        await conn.execute(
            statement,
            [
                {
                    "idx": i.index,
                    "code": i.props.code,
                    "name": i.props.name or i.props.code,
                    "level": i.props.level,
                    "parent_code": i.props.parent,
                    "unit_id": i.unit_id,
                    "worker_ids": i.worker_ids,
                    "ok": i.ok,
                    "geojson": msgspec.json.encode(
                        {"type": "MultiPolygon", "coordinates": i.multipolygon}
                    ).decode(),
                }
                for i in batch
            ],
        )
        progress("stage geometries", start + len(batch), len(items))


async def _repair(conn: AsyncConnection, items: list[_Item], problems: list[Problem]) -> None:
    """Repair invalid geometries in place; orient rings; reject what has no area left."""
    by_index = {i.index: i for i in items}
    geom = _STAGE.c.geom
    invalid = (
        await conn.execute(
            select(_STAGE.c.idx, func.ST_IsValidReason(geom).label("reason")).where(~func.ST_IsValid(geom))
        )
    ).all()
    repaired = func.ST_Multi(func.ST_CollectionExtract(func.ST_MakeValid(geom, "method=structure"), 3))
    await conn.execute(update(_STAGE).where(~func.ST_IsValid(geom)).values(geom=repaired))
    await conn.execute(update(_STAGE).values(geom=func.ST_ForcePolygonCCW(geom)))
    area = func.ST_Area(func.Geography(geom))
    ids = [r.idx for r in invalid]
    areas = dict((await conn.execute(select(_STAGE.c.idx, area).where(_STAGE.c.idx.in_(ids)))).all())
    for row in invalid:
        item = by_index[row.idx]
        area = areas.get(row.idx) or 0.0
        if area > 0:
            problems.append(
                Problem(
                    severity="warning",
                    kind="repaired_geometry",
                    code=item.props.code,
                    feature=item.index,
                    area_m2=round(area, 1),
                    message=f"invalid geometry ({row.reason}) repaired with ST_MakeValid",
                )
            )
        else:
            item.ok = False
            problems.append(
                Problem(
                    severity="error",
                    kind="invalid_geometry",
                    code=item.props.code,
                    feature=item.index,
                    message=f"invalid geometry ({row.reason}) that no repair leaves an area to",
                )
            )


def _orphans(items: list[_Item], problems: list[Problem]) -> None:
    """A Feature whose parent in the file was rejected cannot be stored either (parents first)."""
    by_code = {i.props.code: i for i in items}
    for item in sorted(items, key=lambda i: _RANK[i.props.level]):
        parent = by_code.get(item.props.parent or "")
        if item.ok and parent is not None and not parent.ok:
            item.ok = False
            problems.append(
                Problem(
                    severity="error",
                    kind="parent_rejected",
                    code=item.props.code,
                    feature=item.index,
                    other=parent.props.code,
                    message=f"its parent {parent.props.code!r} was rejected",
                )
            )


async def _upsert(conn: AsyncConnection, district_id: int, progress: Progress) -> tuple[set[str], set[str]]:
    """Write the staged grids, parents first; returns the codes created and the codes updated."""
    created: set[str] = set()
    updated: set[str] = set()
    parent = aliased(GRIDS)
    s = _STAGE.c
    for done, level in enumerate(LEVELS, 1):
        rows = (
            select(
                literal(district_id),
                parent.c.id,
                s.code,
                s.name,
                s.level,
                s.unit_id,
                s.geom,
                func.ST_Area(func.Geography(s.geom)),
            )
            .select_from(
                _STAGE.outerjoin(
                    parent, and_(parent.c.district_id == district_id, parent.c.code == s.parent_code)
                )
            )
            .where(s.level == level, s.ok)
        )
        statement = pg_insert(GRIDS).from_select(
            ["district_id", "parent_id", "code", "name", "level", "unit_id", "geom", "area_m2"], rows
        )
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[GRIDS.c.district_id, GRIDS.c.code],
            set_={c: new[c] for c in ("parent_id", "name", "level", "unit_id", "geom", "area_m2")},
            # Only rows that differ are written, so re-importing a file touches nothing.
            where=or_(
                *(GRIDS.c[c].is_distinct_from(new[c]) for c in ("parent_id", "name", "level", "unit_id")),
                func.ST_AsEWKB(GRIDS.c.geom).is_distinct_from(func.ST_AsEWKB(new.geom)),
            ),
        ).returning(GRIDS.c.code, text("xmax = 0"))
        for code, inserted in await conn.execute(statement):
            (created if inserted else updated).add(code)
        progress("write grids", done, len(LEVELS))
    updated |= await _sync_workers(conn, district_id)
    return created, updated - created


async def _sync_workers(conn: AsyncConnection, district_id: int) -> set[str]:
    """Make each imported grid's workers exactly the file's; returns the codes whose workers changed."""
    s = _STAGE.c
    grid = (
        select(GRIDS.c.id, GRIDS.c.code, s.worker_ids)
        .join(_STAGE, and_(GRIDS.c.district_id == district_id, GRIDS.c.code == s.code, s.ok))
        .subquery()
    )
    removed = await conn.execute(
        GRID_WORKERS.delete()
        .where(GRID_WORKERS.c.grid_id == grid.c.id, GRID_WORKERS.c.user_id != all_(grid.c.worker_ids))
        .returning(grid.c.code)
    )
    changed = {code for (code,) in removed}
    user = func.unnest(grid.c.worker_ids).table_valued("user_id").render_derived(name="u")
    added = await conn.execute(
        pg_insert(GRID_WORKERS)
        .from_select(
            ["district_id", "grid_id", "user_id"],
            select(literal(district_id), grid.c.id, user.c.user_id).select_from(
                grid.join(user, literal(True))
            ),
        )
        .on_conflict_do_nothing(index_elements=[GRID_WORKERS.c.grid_id, GRID_WORKERS.c.user_id])
        .returning(GRID_WORKERS.c.grid_id)
    )
    added_ids = [grid_id for (grid_id,) in added]
    if added_ids:
        changed |= set((await conn.execute(select(GRIDS.c.code).where(GRIDS.c.id.in_(added_ids)))).scalars())
    return changed


async def _topology(conn: AsyncConnection, district_id: int, tolerance_m2: float) -> list[Problem]:
    """Outside-parent, overlap and gap warnings for the whole district as it now stands."""
    problems = []
    child, parent = aliased(GRIDS), aliased(GRIDS)
    outside = func.ST_Difference(child.c.geom, parent.c.geom)
    for row in await conn.execute(
        select(
            child.c.code,
            parent.c.code.label("parent"),
            func.ST_Area(func.Geography(outside)).label("area"),
            func.ST_PointOnSurface(outside).label("at"),
        )
        .join(parent, parent.c.id == child.c.parent_id)
        .where(child.c.district_id == district_id, ~func.ST_CoveredBy(child.c.geom, parent.c.geom))
    ):
        if row.area > tolerance_m2:
            problems.append(
                Problem(
                    severity="warning",
                    kind="outside_parent",
                    code=row.code,
                    other=row.parent,
                    area_m2=round(row.area, 1),
                    at=_point(row.at),
                    message=f"{row.area:.1f} m² lie outside its parent {row.parent!r}",
                )
            )
    a, b = aliased(GRIDS), aliased(GRIDS)
    shared = func.ST_Intersection(a.c.geom, b.c.geom)
    for row in await conn.execute(
        select(
            a.c.code,
            b.c.code.label("other"),
            a.c.level,
            func.ST_Area(func.Geography(shared)).label("area"),
            func.ST_PointOnSurface(shared).label("at"),
        )
        .join(
            b,
            and_(
                b.c.district_id == a.c.district_id,
                b.c.level == a.c.level,
                a.c.code < b.c.code,
                a.c.geom.op("&&")(b.c.geom),
            ),
        )
        # Interiors meet: more than a shared edge or corner.
        .where(a.c.district_id == district_id, func.ST_Relate(a.c.geom, b.c.geom, "T********"))
        .order_by(a.c.code, b.c.code)
    ):
        if row.area > tolerance_m2:
            problems.append(
                Problem(
                    severity="warning",
                    kind="overlap",
                    code=row.code,
                    other=row.other,
                    area_m2=round(row.area, 1),
                    at=_point(row.at),
                    message=f"{row.level}s {row.code!r} and {row.other!r} overlap on {row.area:.1f} m²",
                )
            )
    community, cell = aliased(GRIDS), aliased(GRIDS)
    cells = (
        select(func.ST_Union(cell.c.geom))
        .where(cell.c.parent_id == community.c.id, cell.c.level == "cell")
        .scalar_subquery()
    )
    gap = func.ST_Difference(
        community.c.geom, func.coalesce(cells, func.ST_GeomFromText("POLYGON EMPTY", 4326))
    )
    gaps = (
        select(community.c.code, gap.label("gap"))
        .where(community.c.district_id == district_id, community.c.level == "community")
        .subquery()
    )
    for row in await conn.execute(
        select(
            gaps.c.code,
            func.ST_Area(func.Geography(gaps.c.gap)).label("area"),
            func.ST_PointOnSurface(gaps.c.gap).label("at"),
        ).order_by(gaps.c.code)
    ):
        if row.area > tolerance_m2:
            problems.append(
                Problem(
                    severity="warning",
                    kind="gap",
                    code=row.code,
                    area_m2=round(row.area, 1),
                    at=_point(row.at),
                    message=f"{row.area:.1f} m² of community {row.code!r} are in no cell",
                )
            )
    return problems


def _point(wkb: Any) -> tuple[float, float] | None:
    if wkb is None:
        return None
    point = to_shape(wkb)
    return (round(point.x, 7), round(point.y, 7)) if not point.is_empty else None


async def import_grids(
    district_id: int,
    data: bytes,
    *,
    commit: bool = True,
    tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a GeoJSON FeatureCollection into a district; `commit=False` only checks and reports."""
    progress = progress or (lambda step, done, total: None)
    problems: list[Problem] = []
    total, parsed = _parse(data, problems)
    progress("parse", total, total)
    if any(p.kind == "bad_file" for p in problems):
        return ImportReport(
            district_id=district_id,
            features=0,
            created=0,
            updated=0,
            unchanged=0,
            rejected=0,
            committed=False,
            problems=problems,
        )
    # Leaving the connection without a commit rolls the transaction back (errors, dry runs, exceptions).
    async with engine().connect() as conn:
        transaction = await conn.begin()
        items = await _references(conn, district_id, parsed, problems)
        await _stage(conn, items, progress)
        await _repair(conn, items, problems)
        _orphans(items, problems)
        rejected = [i.index for i in items if not i.ok]
        if rejected:
            await conn.execute(update(_STAGE).where(_STAGE.c.idx.in_(rejected)).values(ok=False))
        created, updated = await _upsert(conn, district_id, progress)
        problems += await _topology(conn, district_id, tolerance_m2)
        progress("check topology", 1, 1)
        committed = commit and not any(p.severity == "error" for p in problems)
        if committed:
            await transaction.commit()
    problems.sort(
        key=lambda p: (
            p.severity != "error",
            p.feature if p.feature is not None else math.inf,
            p.code or "",
            p.kind,
        )
    )
    stored = sum(1 for i in items if i.ok)
    return ImportReport(
        district_id=district_id,
        features=total,
        created=len(created),
        updated=len(updated),
        unchanged=stored - len(created) - len(updated),
        rejected=total - stored,
        committed=committed,
        problems=problems,
    )


async def export_grids(district_id: int, level: Level | None = None) -> dict[str, Any]:
    """The district's grids as the FeatureCollection `import_grids` reads, parents before children."""
    parent = aliased(GRIDS)
    workers = (
        select(
            func.coalesce(
                func.array_agg(aggregate_order_by(USERS.c.username, USERS.c.username)),
                literal([], ARRAY(String)),
            )
        )
        .select_from(GRID_WORKERS.join(USERS, USERS.c.id == GRID_WORKERS.c.user_id))
        .where(GRID_WORKERS.c.grid_id == GRIDS.c.id)
        .scalar_subquery()
    )
    query = (
        select(
            GRIDS.c.code,
            GRIDS.c.name,
            GRIDS.c.level,
            parent.c.code.label("parent"),
            UNITS.c.code.label("unit"),
            workers.label("workers"),
            func.ST_AsGeoJSON(GRIDS.c.geom, _EXPORT_DIGITS).label("geometry"),
        )
        .select_from(
            GRIDS.outerjoin(parent, parent.c.id == GRIDS.c.parent_id).outerjoin(
                UNITS, UNITS.c.id == GRIDS.c.unit_id
            )
        )
        .where(GRIDS.c.district_id == district_id, GRIDS.c.geom.is_not(None))
    )
    if level is not None:
        query = query.where(GRIDS.c.level == level)
    async with engine().connect() as conn:
        rows = (await conn.execute(query)).all()
    rows.sort(key=lambda r: (_RANK[r.level], r.code))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "geometry": msgspec.json.decode(r.geometry),
                "properties": {
                    "code": r.code,
                    "name": r.name,
                    "level": r.level,
                    "parent": r.parent,
                    "unit": r.unit,
                    "workers": list(r.workers),
                },
            }
            for r in rows
        ],
    }
