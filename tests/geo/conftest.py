"""Fixtures of the grid tests: a district whose grids are the demo's, imported through `geo.importer`.

`world` here replaces the shared one (tests/fixtures.py) for tests under tests/geo, so `login`
logs into this district. Units: `office` (the root), `street-1`, `street-2`, `bureau` and its
`squad`; people as in tests/support.py; grids: `geo.demo`'s 46, keyed by code.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from geo.importer import import_grids
from server.demo.grids import demo_feature_collection
from server.districts import setup as seed
from server.tables import Category, Grid
from tests.support import PASSWORD, World, unique_code

_ROLES = {
    "agent": ("agent", "office"),
    "admin": ("district_admin", "office"),
    "worker1": ("grid_worker", "street-1"),
    "worker2": ("grid_worker", "street-2"),
    "squad1": ("squad_leader", "squad"),
    "member1": ("squad_member", "squad"),
    "leader1": ("unit_leader", "bureau"),
    "evaluator1": ("evaluator", None),
}


async def bare_world() -> World:
    """A district with units and people but no grids."""
    code = unique_code("G")
    district_id = await seed.create_district(code, f"Grid test district {code}")
    units = {"office": await seed.add_unit(district_id, "office", "District complaint office")}
    for unit_code, parent in (
        ("street-1", "office"),
        ("street-2", "office"),
        ("bureau", "office"),
        ("squad", "bureau"),
    ):
        units[unit_code] = await seed.add_unit(
            district_id, unit_code, unit_code.title(), parent_id=units[parent]
        )
    users, usernames = {}, {}
    for name, (role, unit) in _ROLES.items():
        usernames[name] = f"{name}-{code}"
        users[name] = await seed.add_user(
            district_id,
            usernames[name],
            name.title(),
            role,
            PASSWORD,
            unit_id=units[unit] if unit else None,
            phone="13900000000",
        )
    categories = {
        r["code"]: r["id"]
        for r in await Category.select(Category.code, Category.id).where(Category.district_id == district_id)
    }
    return World(
        district_id=district_id,
        units=units,
        users=users,
        usernames=usernames,
        grids={},
        categories=categories,
    )


def demo_file(world: World) -> dict[str, Any]:
    """The demo grids with this world's usernames for `worker1` and `worker2`."""
    collection = demo_feature_collection()
    for feature in collection["features"]:
        props = feature["properties"]
        props["workers"] = [world.usernames[w] for w in props["workers"]]
    return collection


async def load_grids(world: World) -> None:
    report = await import_grids(world.district_id, msgspec.json.encode(demo_file(world)))
    assert report.committed and not report.problems, report.problems
    rows = await Grid.select(Grid.code, Grid.id).where(Grid.district_id == world.district_id)
    world.grids = {r["code"]: r["id"] for r in rows}


@pytest.fixture
async def world(client) -> World:
    built = await bare_world()
    await load_grids(built)
    return built
