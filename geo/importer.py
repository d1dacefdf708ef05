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

from server.db import fetch, transaction

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


class _Rejected(Exception):
    """A Feature problem that stops the Feature (the message becomes an error Problem)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


async def district_id_by_code(code: str) -> int | None:
    rows = await fetch("SELECT id FROM districts WHERE code = {}", code)
    return rows[0]["id"] if rows else None


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


def _parent_error(props: _Properties, known_levels: dict[str, str]) -> tuple[str, str] | None:
    """The parent must be in the file or stored, one level up; only a city or district may lack one."""
    if props.parent is None:
        if props.level in _ROOT_LEVELS:
            return None
        return "missing_parent", f"a {props.level} needs a parent"
    parent_level = known_levels.get(props.parent)
    if parent_level is None:
        return "unknown_parent", f"parent {props.parent!r} is neither in the file nor stored"
    if _RANK[parent_level] != _RANK[props.level] - 1:
        return "wrong_parent_level", f"the parent of a {props.level} cannot be a {parent_level}"
    return None


def _workers(props: _Properties, users: dict[str, dict[str, Any]]) -> tuple[list[int], list[tuple[str, str]]]:
    """The ids of the Feature's grid workers, and an error for each name that is not one."""
    ids, errors = [], []
    for username in dict.fromkeys(props.workers):
        user = users.get(username)
        if user is None:
            errors.append(("unknown_worker", f"no user {username!r} in this district"))
        elif user["role"] != "grid_worker":
            errors.append(("not_a_grid_worker", f"{username!r} is a {user['role']}, not a grid_worker"))
        else:
            ids.append(user["id"])
    return sorted(ids), errors


async def _references(
    district_id: int, parsed: list[tuple[int, _Properties, list]], problems: list[Problem]
) -> list[_Item]:
    """Resolve units and workers; check levels and parents against the file and the stored grids."""
    units = {
        r["code"]: r["id"]
        for r in await fetch("SELECT code, id FROM units WHERE district_id = {}", district_id)
    }
    users = {
        r["username"]: r
        for r in await fetch("SELECT username, id, role FROM app_users WHERE district_id = {}", district_id)
    }
    stored = await fetch("SELECT code, level FROM grids WHERE district_id = {}", district_id)
    known_levels = {r["code"]: r["level"] for r in stored} | {
        props.code: props.level for _, props, _ in parsed
    }
    items = []
    for index, props, coordinates in parsed:
        unit_id = units.get(props.unit) if props.unit is not None else None
        unit_error = ("unknown_unit", f"no unit {props.unit!r} in this district")
        worker_ids, worker_errors = _workers(props, users)
        errors = [e for e in (_parent_error(props, known_levels),) if e is not None]
        errors += [unit_error] if props.unit is not None and unit_id is None else []
        errors += worker_errors
        if props.unit is None and props.level == "cell":
            problems.append(
                _feature_problem("warning", "no_unit", "a cell without a responsible unit", props, index)
            )
        problems += [_feature_problem("error", kind, message, props, index) for kind, message in errors]
        items.append(
            _Item(
                index=index,
                props=props,
                multipolygon=coordinates,
                unit_id=unit_id,
                worker_ids=worker_ids,
                ok=not errors,
            )
        )
    return items


def _feature_problem(
    severity: Literal["error", "warning"], kind: str, message: str, props: _Properties, index: int
) -> Problem:
    return Problem(severity=severity, kind=kind, message=message, code=props.code, feature=index)


# The Features on their way in, in a temporary table so PostGIS can judge and repair them first.
_CREATE_STAGE = """
CREATE TEMPORARY TABLE grid_import (
    idx integer PRIMARY KEY, code text, name text, level text, parent_code text, unit_id integer,
    worker_ids integer[], ok boolean, geom geometry(Geometry, 4326)
) ON COMMIT DROP
"""
# Argument: a JSON array of the staged rows, each with its GeoJSON geometry.
_STAGE_ROWS = """
INSERT INTO grid_import (idx, code, name, level, parent_code, unit_id, worker_ids, ok, geom)
SELECT idx, code, name, level, parent_code, unit_id, worker_ids, ok,
       ST_SetSRID(ST_GeomFromGeoJSON(geometry::text), 4326)
FROM jsonb_to_recordset({}::jsonb) AS r(
    idx integer, code text, name text, level text, parent_code text, unit_id integer,
    worker_ids integer[], ok boolean, geometry jsonb
)
"""


def _staged(item: _Item) -> dict[str, Any]:
    return {
        "idx": item.index,
        "code": item.props.code,
        "name": item.props.name or item.props.code,
        "level": item.props.level,
        "parent_code": item.props.parent,
        "unit_id": item.unit_id,
        "worker_ids": item.worker_ids,
        "ok": item.ok,
        "geometry": {"type": "MultiPolygon", "coordinates": item.multipolygon},
    }


async def _stage(items: list[_Item], progress: Progress) -> None:
    await fetch(_CREATE_STAGE)
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        await fetch(_STAGE_ROWS, msgspec.json.encode([_staged(i) for i in batch]).decode())
        progress("stage geometries", start + len(batch), len(items))


_INVALID = "SELECT idx, ST_IsValidReason(geom) AS reason FROM grid_import WHERE NOT ST_IsValid(geom)"
# Repaired, counter-clockwise (RFC 7946); returns what area each repaired geometry kept.
_REPAIR = """
UPDATE grid_import
SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(geom, 'method=structure'), 3))
WHERE NOT ST_IsValid(geom)
"""
_ORIENT = "UPDATE grid_import SET geom = ST_ForcePolygonCCW(geom)"
_AREAS = "SELECT idx, ST_Area(geom::geography) AS area FROM grid_import WHERE idx = ANY({}::integer[])"


async def _repair(items: list[_Item], problems: list[Problem]) -> None:
    """Repair invalid geometries in place; orient rings; reject what has no area left."""
    by_index = {i.index: i for i in items}
    invalid = await fetch(_INVALID)
    await fetch(_REPAIR)
    await fetch(_ORIENT)
    areas = {r["idx"]: r["area"] for r in await fetch(_AREAS, [r["idx"] for r in invalid])}
    for row in invalid:
        item = by_index[row["idx"]]
        area = areas.get(row["idx"]) or 0.0
        if area > 0:
            problem = _feature_problem(
                "warning",
                "repaired_geometry",
                f"invalid geometry ({row['reason']}) repaired with ST_MakeValid",
                item.props,
                item.index,
            )
            problem.area_m2 = round(area, 1)
        else:
            item.ok = False
            problem = _feature_problem(
                "error",
                "invalid_geometry",
                f"invalid geometry ({row['reason']}) that no repair leaves an area to",
                item.props,
                item.index,
            )
        problems.append(problem)


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


# One level of staged grids; only rows that differ are written, so re-importing a file touches
# nothing. Arguments: district id (twice), level.
_UPSERT_LEVEL = """
INSERT INTO grids (district_id, parent_id, code, name, level, unit_id, geom, area_m2)
SELECT {}::integer, parent.id, s.code, s.name, s.level, s.unit_id, s.geom, ST_Area(s.geom::geography)
FROM grid_import s LEFT JOIN grids parent ON parent.district_id = {} AND parent.code = s.parent_code
WHERE s.level = {} AND s.ok
ON CONFLICT (district_id, code) DO UPDATE SET
    parent_id = EXCLUDED.parent_id, name = EXCLUDED.name, level = EXCLUDED.level,
    unit_id = EXCLUDED.unit_id, geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2
WHERE grids.parent_id IS DISTINCT FROM EXCLUDED.parent_id OR grids.name IS DISTINCT FROM EXCLUDED.name
   OR grids.level IS DISTINCT FROM EXCLUDED.level OR grids.unit_id IS DISTINCT FROM EXCLUDED.unit_id
   OR ST_AsEWKB(grids.geom) IS DISTINCT FROM ST_AsEWKB(EXCLUDED.geom)
RETURNING code, xmax = 0 AS inserted
"""


async def _upsert(district_id: int, progress: Progress) -> tuple[set[str], set[str]]:
    """Write the staged grids, parents first; returns the codes created and the codes updated."""
    created: set[str] = set()
    updated: set[str] = set()
    for done, level in enumerate(LEVELS, 1):
        for row in await fetch(_UPSERT_LEVEL, district_id, district_id, level):
            (created if row["inserted"] else updated).add(row["code"])
        progress("write grids", done, len(LEVELS))
    updated |= await _sync_workers(district_id)
    return created, updated - created


# Each imported grid's workers become exactly the file's. Arguments: district id (once, twice).
_REMOVE_WORKERS = """
DELETE FROM grid_workers w USING grids g, grid_import s
WHERE g.district_id = {} AND g.code = s.code AND s.ok AND w.grid_id = g.id AND w.user_id <> ALL(s.worker_ids)
RETURNING g.code
"""
_ADD_WORKERS = """
WITH added AS (
    INSERT INTO grid_workers (district_id, grid_id, user_id)
    SELECT {}::integer, g.id, u.user_id
    FROM grids g JOIN grid_import s ON g.district_id = {} AND g.code = s.code AND s.ok,
         unnest(s.worker_ids) AS u(user_id)
    ON CONFLICT (grid_id, user_id) DO NOTHING
    RETURNING grid_id
)
SELECT DISTINCT g.code FROM added JOIN grids g ON g.id = added.grid_id
"""


async def _sync_workers(district_id: int) -> set[str]:
    """Returns the codes whose workers changed."""
    removed = await fetch(_REMOVE_WORKERS, district_id)
    added = await fetch(_ADD_WORKERS, district_id, district_id)
    return {r["code"] for r in removed} | {r["code"] for r in added}


# The topology checks of the district as it now stands. Each row: code, other (or null), level,
# area (m², geography) and a point (x, y) inside the area. Argument: district id.
_OUTSIDE_PARENT = """
SELECT child.code, parent.code AS other, child.level, ST_Area(d.geom::geography) AS area,
       ST_X(ST_PointOnSurface(d.geom)) AS x, ST_Y(ST_PointOnSurface(d.geom)) AS y
FROM grids child JOIN grids parent ON parent.id = child.parent_id,
     LATERAL (SELECT ST_Difference(child.geom, parent.geom) AS geom) d
WHERE child.district_id = {} AND NOT ST_CoveredBy(child.geom, parent.geom)
ORDER BY child.code
"""
# Interiors meet (`T********`): more than a shared edge or corner.
_OVERLAPS = """
SELECT a.code, b.code AS other, a.level, ST_Area(d.geom::geography) AS area,
       ST_X(ST_PointOnSurface(d.geom)) AS x, ST_Y(ST_PointOnSurface(d.geom)) AS y
FROM grids a JOIN grids b
  ON b.district_id = a.district_id AND b.level = a.level AND a.code < b.code AND a.geom && b.geom,
     LATERAL (SELECT ST_Intersection(a.geom, b.geom) AS geom) d
WHERE a.district_id = {} AND ST_Relate(a.geom, b.geom, 'T********')
ORDER BY a.code, b.code
"""
_GAPS = """
SELECT community.code, NULL AS other, community.level, ST_Area(d.geom::geography) AS area,
       ST_X(ST_PointOnSurface(d.geom)) AS x, ST_Y(ST_PointOnSurface(d.geom)) AS y
FROM grids community,
     LATERAL (
         SELECT ST_Difference(community.geom, coalesce(
             (SELECT ST_Union(cell.geom) FROM grids cell
              WHERE cell.parent_id = community.id AND cell.level = 'cell'),
             ST_GeomFromText('POLYGON EMPTY', 4326))) AS geom
     ) d
WHERE community.district_id = {} AND community.level = 'community'
ORDER BY community.code
"""
_TOPOLOGY: tuple[tuple[str, str, Callable[[dict[str, Any]], str]], ...] = (
    (
        "outside_parent",
        _OUTSIDE_PARENT,
        lambda r: f"{r['area']:.1f} m² lie outside its parent {r['other']!r}",
    ),
    (
        "overlap",
        _OVERLAPS,
        lambda r: f"{r['level']}s {r['code']!r} and {r['other']!r} overlap on {r['area']:.1f} m²",
    ),
    ("gap", _GAPS, lambda r: f"{r['area']:.1f} m² of community {r['code']!r} are in no cell"),
)


def _topology_warning(kind: str, row: dict[str, Any], message: str) -> Problem:
    at = (round(row["x"], 7), round(row["y"], 7)) if row["x"] is not None else None
    return Problem(
        severity="warning",
        kind=kind,
        code=row["code"],
        other=row["other"],
        area_m2=round(row["area"], 1),
        at=at,
        message=message,
    )


async def _topology(district_id: int, tolerance_m2: float) -> list[Problem]:
    """Outside-parent, overlap and gap warnings; differences up to `tolerance_m2` are noise."""
    problems = []
    for kind, sql, message in _TOPOLOGY:
        rows = await fetch(sql, district_id)
        problems += [_topology_warning(kind, r, message(r)) for r in rows if r["area"] > tolerance_m2]
    return problems


def _report(
    district_id: int,
    total: int,
    items: list[_Item],
    written: tuple[set[str], set[str]] | None,
    committed: bool,
    problems: list[Problem],
) -> ImportReport:
    problems.sort(
        key=lambda p: (
            p.severity != "error",
            p.feature if p.feature is not None else math.inf,
            p.code or "",
            p.kind,
        )
    )
    created, updated = written or (set(), set())
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


async def _write(
    district_id: int, parsed: list[tuple[int, _Properties, list]], problems: list[Problem], progress: Progress
) -> tuple[list[_Item], tuple[set[str], set[str]]]:
    """Check, stage, repair and upsert; the caller decides whether it all stays."""
    items = await _references(district_id, parsed, problems)
    await _stage(items, progress)
    await _repair(items, problems)
    _orphans(items, problems)
    await fetch(
        "UPDATE grid_import SET ok = false WHERE idx = ANY({}::integer[])",
        [i.index for i in items if not i.ok],
    )
    written = await _upsert(district_id, progress)
    await fetch("DROP TABLE grid_import")
    return items, written


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
        return _report(district_id, 0, [], None, False, problems)
    async with transaction() as tx:
        # A savepoint, so errors and dry runs undo exactly this import, inside a caller's transaction too.
        start = await tx.savepoint("grid_import")
        items, written = await _write(district_id, parsed, problems, progress)
        problems += await _topology(district_id, tolerance_m2)
        progress("check topology", 1, 1)
        committed = commit and not any(p.severity == "error" for p in problems)
        if not committed:
            await start.rollback_to()
    return _report(district_id, total, items, written, committed, problems)


# Parents before children in the answer; `{}::text IS NULL` means every level. Arguments: district
# id, digits, level (twice).
_EXPORT = """
SELECT g.code, g.name, g.level, parent.code AS parent, u.code AS unit,
       coalesce((SELECT array_agg(usr.username ORDER BY usr.username)
                 FROM grid_workers w JOIN app_users usr ON usr.id = w.user_id WHERE w.grid_id = g.id),
                ARRAY[]::varchar[]) AS workers,
       ST_AsGeoJSON(g.geom, {}) AS geometry
FROM grids g LEFT JOIN grids parent ON parent.id = g.parent_id LEFT JOIN units u ON u.id = g.unit_id
WHERE g.district_id = {} AND g.geom IS NOT NULL AND ({}::text IS NULL OR g.level = {})
"""


async def export_grids(district_id: int, level: Level | None = None) -> dict[str, Any]:
    """The district's grids as the FeatureCollection `import_grids` reads, parents before children."""
    rows = await fetch(_EXPORT, _EXPORT_DIGITS, district_id, level, level)
    rows.sort(key=lambda r: (_RANK[r["level"]], r["code"]))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r["code"],
                "geometry": msgspec.json.decode(r["geometry"]),
                "properties": {
                    "code": r["code"],
                    "name": r["name"],
                    "level": r["level"],
                    "parent": r["parent"],
                    "unit": r["unit"],
                    "workers": list(r["workers"]),
                },
            }
            for r in rows
        ],
    }
