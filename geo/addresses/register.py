"""The address register (地址库) from CSV or GeoJSON: check every row, report, upsert by key.

A row is a door plate (`door`: road, number, compound, building, unit), a compound (`compound`)
or a named place (`place`: a school, a market, a bus stop, with `name`), with a WGS84 point. CSV
columns: `id, kind, road, number, compound, building, unit, name, lat, lon` (all but lat/lon
optional); a GeoJSON FeatureCollection of Points carries the same names in its properties.
`kind` may be left out: a name makes a place, a compound without a building a compound, the rest
door plates.

Every row is checked before anything is written, and a problem is reported with its line (CSV)
or feature number (GeoJSON): **malformed** (no usable point, an unknown kind, nothing to search
by, a value too long or with control characters), **outside** (the point is in none of the
district's cells) or **duplicate** (a key seen earlier in the file: the first row stands). Good
rows are imported even when others are not; `--check` writes nothing. A row's key is its `id`,
else its kind and normalised text, so a re-import updates entries in place and counts what it
created, updated and left unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, Literal

import msgspec

from geo.addresses.normalise import names_of, normalise, plates_of
from geo.addresses.ranking import KINDS
from geo.assign import locate_many
from server.db import fetch, transaction

__all__ = [
    "AddressRow",
    "ImportReport",
    "Problem",
    "district_prefixes",
    "import_addresses",
    "label_of",
    "parse",
]

_FIELDS = ("road", "number", "compound", "building", "unit", "name")
_LIMITS = {
    "id": 200,
    "kind": 16,
    "road": 100,
    "number": 32,
    "compound": 100,
    "building": 32,
    "unit": 32,
    "name": 200,
}
_BATCH = 1000
Progress = Callable[[str, int, int], None]


class AddressRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    key: str
    kind: str
    road: str = ""
    number: str = ""
    compound: str = ""
    building: str = ""
    unit: str = ""
    name: str = ""
    label: str
    norm: str
    lat: float
    lon: float


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    kind: Literal["malformed", "outside", "duplicate"]
    message: str


class ImportReport(msgspec.Struct, kw_only=True):
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = msgspec.field(default_factory=list)
    committed: bool = False


class _Malformed(Exception):
    pass


def _with_word(value: str, word: str) -> str:
    return f"{value}{word}" if value.isdigit() else value


def label_of(kind: str, parts: dict[str, str]) -> str:
    """How an entry reads to a person: `长宁路100号华山小区3栋2单元`, `华山小区阳光幼儿园`."""
    if kind == "place" and parts.get("name"):
        return parts.get("compound", "") + parts["name"]
    return "".join(
        (
            parts.get("road", ""),
            _with_word(parts.get("number", ""), "号"),
            parts.get("compound", ""),
            _with_word(parts.get("building", ""), "栋"),
            _with_word(parts.get("unit", ""), "单元"),
            parts.get("name", ""),
        )
    )


def _clean(raw: dict[str, Any], field: str) -> str:
    value = raw.get(field)
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise _Malformed(f"{field} must be text")
    text = str(value).strip()
    if any(ord(c) < 32 for c in text):
        raise _Malformed(f"{field} holds control characters")
    if len(text) > _LIMITS[field]:
        raise _Malformed(f"{field} is longer than {_LIMITS[field]} characters")
    return text


def _coordinate(value: Any, name: str, bound: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Malformed(f"{name} is not a number") from None
    if not -bound <= number <= bound:  # also false for NaN
        raise _Malformed(f"{name} {value} is out of range")
    return number


def _kind(raw: dict[str, Any], parts: dict[str, str]) -> str:
    kind = _clean(raw, "kind")
    if not kind:
        if parts["name"]:
            return "place"
        return "compound" if parts["compound"] and not parts["building"] and not parts["number"] else "door"
    if kind not in KINDS:
        raise _Malformed(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def _row(line: int, raw: dict[str, Any], prefixes: tuple[str, ...]) -> AddressRow:
    parts = {f: _clean(raw, f) for f in _FIELDS}
    kind = _kind(raw, parts)
    lat = _coordinate(raw.get("lat"), "lat", 90)
    lon = _coordinate(raw.get("lon"), "lon", 180)
    label = label_of(kind, parts)
    norm = normalise(label, prefixes)
    if not norm:
        raise _Malformed("the row has nothing to search by (road, compound or name)")
    key = _clean(raw, "id") or f"{kind}:{norm}"
    return AddressRow(line=line, key=key, kind=kind, label=label, norm=norm, lat=lat, lon=lon, **parts)


def _records(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or feature number, its fields): GeoJSON if it parses as a JSON object, else CSV."""
    text = data.decode("utf-8-sig")
    if text.lstrip().startswith("{"):
        collection = msgspec.json.decode(text)
        features = collection.get("features") if isinstance(collection, dict) else None
        if not isinstance(features, list):
            raise ValueError("a GeoJSON file must be a FeatureCollection")
        for n, feature in enumerate(features, start=1):
            yield n, _feature_fields(feature)
        return
    reader = csv.DictReader(io.StringIO(text))
    for record in reader:
        yield reader.line_num, {k.strip().lower(): v for k, v in record.items() if k is not None}


def _feature_fields(feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        return {}
    props: dict[str, Any] = feature["properties"] if isinstance(feature.get("properties"), dict) else {}
    geometry: dict[str, Any] = feature["geometry"] if isinstance(feature.get("geometry"), dict) else {}
    coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
    point = coords if isinstance(coords, list) and len(coords) >= 2 else [None, None]
    return {**props, "id": props.get("id", feature.get("id")), "lon": point[0], "lat": point[1]}


def parse(data: bytes, prefixes: tuple[str, ...] = ()) -> tuple[list[AddressRow], list[Problem], int]:
    """Good rows, the problems of the others (malformed, duplicate) and how many rows there were."""
    rows: list[AddressRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    count = 0
    for line, raw in _records(data):
        count += 1
        try:
            row = _row(line, raw, prefixes)
        except _Malformed as exc:
            problems.append(Problem(line=line, kind="malformed", message=str(exc)))
            continue
        if row.key in seen:
            problems.append(
                Problem(line=line, kind="duplicate", message=f"{row.key!r} repeats line {seen[row.key]}")
            )
            continue
        seen[row.key] = line
        rows.append(row)
    return rows, problems, count


async def district_prefixes(district_id: int) -> tuple[str, ...]:
    """The names a caller may put before an address: the district's and its city, district and
    street grids' (the normaliser drops them)."""
    rows = await fetch(
        "SELECT name FROM districts WHERE id = {} UNION "
        "SELECT name FROM grids WHERE district_id = {} AND level IN ('city', 'district', 'street')",
        district_id,
        district_id,
    )
    return tuple(sorted(r["name"] for r in rows))


_UPSERT = """
INSERT INTO addresses (district_id, key, kind, road, number, compound, building, unit, name,
                       label, norm, names, plates, grid_id, geom, updated_at)
SELECT {}, r.key, r.kind, r.road, r.number, r.compound, r.building, r.unit, r.name, r.label, r.norm,
       r.names, coalesce(string_to_array(nullif(r.plates, ''), ' '), ARRAY[]::text[]), r.grid_id,
       ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), now()
FROM unnest({}::text[], {}::text[], {}::text[], {}::text[], {}::text[], {}::text[], {}::text[],
            {}::text[], {}::text[], {}::text[], {}::text[], {}::text[], {}::int[], {}::float8[], {}::float8[])
     AS r(key, kind, road, number, compound, building, unit, name, label, norm, names, plates, grid_id,
          lon, lat)
ON CONFLICT (district_id, key) DO UPDATE SET
    kind = EXCLUDED.kind, road = EXCLUDED.road, number = EXCLUDED.number,
    compound = EXCLUDED.compound, building = EXCLUDED.building, unit = EXCLUDED.unit,
    name = EXCLUDED.name, label = EXCLUDED.label, norm = EXCLUDED.norm, names = EXCLUDED.names,
    plates = EXCLUDED.plates,
    grid_id = EXCLUDED.grid_id, geom = EXCLUDED.geom, updated_at = now()
WHERE (addresses.kind, addresses.road, addresses.number, addresses.compound, addresses.building,
       addresses.unit, addresses.name, addresses.norm, addresses.grid_id, addresses.geom)
      IS DISTINCT FROM
      (EXCLUDED.kind, EXCLUDED.road, EXCLUDED.number, EXCLUDED.compound, EXCLUDED.building,
       EXCLUDED.unit, EXCLUDED.name, EXCLUDED.norm, EXCLUDED.grid_id, EXCLUDED.geom)
RETURNING (xmax = 0) AS created
"""


async def _upsert(district_id: int, rows: list[tuple[AddressRow, int]]) -> list[bool]:
    columns: list[list[Any]] = [[] for _ in range(15)]
    for row, grid_id in rows:
        parts = (getattr(row, f) for f in _FIELDS)
        words = row.norm.split()
        names, plates = names_of(words), " ".join(plates_of(words))
        values = (row.key, row.kind, *parts, row.label, row.norm, names, plates, grid_id, row.lon, row.lat)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return [r["created"] for r in await fetch(_UPSERT, district_id, *columns)]


async def import_addresses(
    district_id: int, data: bytes, *, commit: bool = True, progress: Progress | None = None
) -> ImportReport:
    """Check the file, place each point in its cell, and (with `commit`) upsert the good rows."""
    prefixes = await district_prefixes(district_id)
    rows, problems, count = parse(data, prefixes)
    report = ImportReport(rows=count, problems=problems)
    placed: list[tuple[AddressRow, int]] = []
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        cells = await locate_many(district_id, [(r.lat, r.lon) for r in batch])
        for row, cell in zip(batch, cells, strict=True):
            if cell is None:
                message = f"{row.lat}, {row.lon} is in none of the district's cells"
                report.problems.append(Problem(line=row.line, kind="outside", message=message))
            else:
                placed.append((row, cell.grid_id))
        if progress:
            progress("placing points", start + len(batch), len(rows))
    report.problems.sort(key=lambda p: p.line)
    if not commit:
        return report
    async with transaction():
        for start in range(0, len(placed), _BATCH):
            created = await _upsert(district_id, placed[start : start + _BATCH])
            report.created += sum(created)
            report.updated += len(created) - sum(created)
            if progress:
                progress("storing", min(start + _BATCH, len(placed)), len(placed))
    report.unchanged = len(placed) - report.created - report.updated
    report.committed = True
    return report
