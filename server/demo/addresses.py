"""The demo district's address register (地址库): door plates, compounds and named places in its cells.

Each of the 36 cells is crossed by the east-west road of its row and the north-south road of its
column (six of each), with door plates on both; each cell holds compounds with numbered buildings
and entrances (单元), a named place (a school, a market, a clinic…) and the bus stop at its
crossing. The same door number therefore exists on several roads, and the register keeps the
confusions a real one has on purpose: two compounds named 华山小区 in different streets, and a
kindergarten inside one of them. Points are drawn well inside their cell (about 90 m off its
edges), so every entry imports into the cell it was made for. `register_csv(scale)` makes a
larger register of the same shape for the benchmark.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import datetime

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from geo.addresses.register import import_addresses
from geo.addresses.search import AddressRegister
from geo.assign import cell_at
from server.accounts.domain import Actor
from server.cases.domain import CaseState
from server.cases.intake import register_case
from server.cases.schemas import CaseCreate, Registration
from server.demo.grids import demo_feature_collection
from server.settings import Settings

__all__ = [
    "AMBIGUOUS_COMPOUND",
    "EAST_WEST",
    "NORTH_SOUTH",
    "PHONE_ADDRESS",
    "load_register",
    "register_csv",
    "register_phone_case",
    "register_rows",
]

# How a caller gives an address on the phone: city and district first, full-width digits.
PHONE_ADDRESS = "上海市静安区长宁路１２号"

EAST_WEST = ("长宁路", "延安西路", "愚园路", "武定路", "新闸路", "南京西路")
NORTH_SOUTH = ("华山路", "江苏路", "镇宁路", "乌鲁木齐北路", "常德路", "陕西北路")
AMBIGUOUS_COMPOUND = "华山小区"
_FIRST = "锦绣明华金桂紫荆春晖康乐和平幸福阳光翠竹梅园兰亭"
_SECOND = ("花园", "新村", "公寓", "苑", "小区", "大厦", "家园", "雅居")
_PLACES = ("第一小学", "菜市场", "社区卫生服务中心", "文化活动中心", "中学", "邮政所", "派出所", "图书馆")
_INSET = 0.0009  # degrees, about 90 m: well inside a cell whatever the jitter of its vertices
_FIELDS = ("id", "kind", "road", "number", "compound", "building", "unit", "name", "lat", "lon")
_Row = dict[str, str | float]


def _cells() -> list[tuple[int, int, BaseGeometry]]:
    """(row, column, polygon) of the demo cells, rows south to north, columns west to east."""
    shapes = [
        shape(f["geometry"])
        for f in demo_feature_collection()["features"]
        if f["properties"]["level"] == "cell"
    ]
    west = min(s.bounds[0] for s in shapes)
    south = min(s.bounds[1] for s in shapes)
    width = (max(s.bounds[2] for s in shapes) - west) / len(EAST_WEST)
    height = (max(s.bounds[3] for s in shapes) - south) / len(NORTH_SOUTH)
    out = []
    for s in shapes:
        c = s.centroid
        out.append((int((c.y - south) / height), int((c.x - west) / width), s.buffer(-_INSET)))
    return sorted(out, key=lambda t: (t[0], t[1]))


def _point(rng: random.Random, inner: BaseGeometry) -> tuple[float, float]:
    minx, miny, maxx, maxy = inner.bounds
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if inner.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)


def _compound_name(n: int) -> str:
    return _FIRST[n % len(_FIRST)] + _FIRST[(n // len(_FIRST) + 3) % len(_FIRST)] + _SECOND[n % len(_SECOND)]


def _cell_rows(rng: random.Random, row: int, col: int, inner: BaseGeometry, scale: int) -> Iterator[_Row]:
    ew, ns = EAST_WEST[row], NORTH_SOUTH[col]
    for k in range(1, 25 * scale + 1):  # door plates on both roads, numbered along each road
        yield dict(kind="door", road=ew, number=str(col * 100 * scale + k), name="", **_at(rng, inner))
        yield dict(kind="door", road=ns, number=str(row * 100 * scale + k), name="", **_at(rng, inner))
    for c in range(scale):
        n = (row * 6 + col) * scale + c
        # Two compounds share one name, in the first cell of each street (columns 0 and 3).
        compound = AMBIGUOUS_COMPOUND if c == 0 and row == 0 and col in (0, 3) else _compound_name(n)
        gate = str(col * 100 * scale + 80 + c)
        site = _at(rng, inner)
        yield dict(kind="compound", road=ew, number=gate, compound=compound, name="", **site)
        # A compound's buildings stand within about 40 m of its gate.
        around = inner.intersection(Point(site["lon"], site["lat"]).buffer(0.0004))
        for building in range(1, 9):
            for unit in (1, 2):
                yield dict(
                    kind="door",
                    road=ew,
                    number=gate,
                    compound=compound,
                    building=str(building),
                    unit=str(unit),
                    name="",
                    **_at(rng, around),
                )
        if compound == AMBIGUOUS_COMPOUND and col == 0:
            yield dict(kind="place", compound=compound, name="阳光幼儿园", **_at(rng, around))
    place = f"{ew.removesuffix('路')}{_PLACES[(row + col) % len(_PLACES)]}"
    yield dict(kind="place", road=ew, name=place, **_at(rng, inner))
    yield dict(kind="place", name=f"{ew}{ns}公交站", **_at(rng, inner))


def _at(rng: random.Random, inner: BaseGeometry) -> dict[str, float]:
    lat, lon = _point(rng, inner)
    return {"lat": lat, "lon": lon}


def register_rows(scale: int = 1) -> list[_Row]:
    """The register as rows with their ids: 2,412 entries at scale 1 (×~40 for scale 40)."""
    rng = random.Random(20261202)
    rows: list[_Row] = []
    for row, col, inner in _cells():
        for entry in _cell_rows(rng, row, col, inner, scale):
            rows.append({"id": f"demo-{len(rows) + 1}", **entry})
    return rows


def register_csv(scale: int = 1) -> bytes:
    """The register as the CSV `gridcase addresses import` reads."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_FIELDS, restval="")
    writer.writeheader()
    writer.writerows(register_rows(scale))
    return out.getvalue().encode()


async def load_register(district_id: int) -> None:
    """Import the demo register; any row it reports is a bug of this generator."""
    report = await import_addresses(district_id, register_csv())
    if report.problems or not report.committed:
        raise RuntimeError(f"the demo register did not import cleanly: {report.problems[:5]}")


async def register_phone_case(
    district_id: int, agent: Actor, category_id: int, settings: Settings, now: datetime
) -> CaseState:
    """A phone case registered from its address alone: intake geocodes it into its cell."""
    body = CaseCreate(
        type="complaint",
        channel="phone",
        category_id=category_id,
        title="Broken street light",
        description="The street light in front of the door has been out for a week.",
        address=PHONE_ADDRESS,
    )
    who = Registration(district_id=district_id, actor=agent, now=now)
    return await register_case(body, who, cell_at, AddressRegister(settings))
