"""`GET /geo/addresses?q=…` over a register with deliberately confusing entries (confusing.py)."""

from __future__ import annotations

import pytest

from tests.geo.addresses.confusing import CELL_A, CELL_B, load_confusing
from tests.geo.conftest import bare_world, load_grids


@pytest.fixture
async def entries(world) -> dict[str, int]:
    return await load_confusing(world)


async def find(client, headers, q: str, limit: int = 10) -> list[dict]:
    r = await client.get("/geo/addresses", params={"q": q, "limit": limit}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["candidates"]


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("长宁路100号", "e1"),
        ("延安西路100号", "e2"),  # the same number on another road
        ("延安西路１００号", "e2"),  # full-width digits
        ("上海市静安区长宁路一百号", "e1"),  # city and district first, Chinese numerals
        ("长宁路10号", "e3"),
        ("长宁100号", "e1"),  # a missing character
        ("长宁略100号", "e1"),  # a wrong one
        ("长宁路华山小区3幢2单元", "e6"),  # the road tells the two 华山小区 apart
        ("江苏路华山小区三号楼二单元", "e7"),
        ("阳光幼儿园", "e8"),  # a named place instead of a door plate
        ("长宁路菜场", "e9"),
    ],
)
async def test_the_entry_meant_ranks_first(client, login, entries, typed, first):
    found = await find(client, await login("agent"), typed)
    assert found[0]["id"] == entries[first], [(c["label"], c["score"]) for c in found]


async def test_candidates_carry_their_point_cell_unit_and_grid_worker(client, login, world, entries):
    top = (await find(client, await login("agent"), "阳光幼儿园"))[0]
    assert top["label"] == "华山小区阳光幼儿园" and top["kind"] == "place"
    assert top["grid_id"] == world.grids[CELL_A] and top["grid_code"] == CELL_A
    assert top["unit_id"] == world.units["street-1"]
    assert [w["id"] for w in top["workers"]] == [world.users["worker1"]]
    assert 31 < top["lat"] < 32 and 121 < top["lon"] < 122


async def test_two_compounds_of_one_name_come_out_side_by_side(client, login, world, entries):
    found = await find(client, await login("agent"), "华山小区")
    compounds = [c for c in found if c["kind"] == "compound"]
    assert {c["id"] for c in found[:2]} == {entries["e4"], entries["e5"]}
    assert compounds[0]["score"] == compounds[1]["score"]
    assert {c["grid_id"] for c in compounds} == {world.grids[CELL_A], world.grids[CELL_B]}
    # Deterministic: the same order every time.
    assert [c["id"] for c in await find(client, await login("agent"), "华山小区")] == [c["id"] for c in found]


async def test_the_same_number_on_two_roads_ranks_the_other_road_below(client, login, entries):
    found = await find(client, await login("agent"), "长宁路100号")
    ids = [c["id"] for c in found]
    assert entries["e2"] in ids and ids.index(entries["e2"]) > ids.index(entries["e1"])
    assert found[0]["score"] - next(c["score"] for c in found if c["id"] == entries["e2"]) >= 0.3


async def test_a_grid_worker_may_search_and_an_evaluator_may_not(client, login, entries):
    assert (
        await client.get("/geo/addresses", params={"q": "长宁路"}, headers=await login("worker1"))
    ).status_code == 200
    r = await client.get("/geo/addresses", params={"q": "长宁路"}, headers=await login("evaluator1"))
    assert r.status_code == 403 and r.json()["code"]
    assert (await client.get("/geo/addresses", params={"q": "长宁路"})).status_code == 401


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "长" * 201}, {"q": "长宁路", "limit": 0}, {"q": "长宁路", "limit": 51}, {}]
)
async def test_bad_queries_are_refused_with_a_code(client, login, entries, params):
    r = await client.get("/geo/addresses", params=params, headers=await login("agent"))
    assert r.status_code == 400, r.text
    assert r.json()["code"] and r.json()["message"]


@pytest.mark.parametrize("q", ["\x00", "，。！", "%_\\'", "上海市"])
async def test_noise_finds_nothing_and_breaks_nothing(client, login, entries, q):
    assert await find(client, await login("agent"), q) == []


async def test_another_district_sees_none_of_this_register(client, entries):
    other = await bare_world()
    await load_grids(other)
    r = await client.post("/auth/login", json={"username": other.usernames["agent"], "password": "secret-pw"})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert await find(client, headers, "长宁路100号") == []
