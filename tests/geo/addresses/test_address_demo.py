"""The demo district (make run): its register, and a phone case registered from its address alone."""

from __future__ import annotations

import pytest

from server.db import fetch
from server.demo.addresses import PHONE_ADDRESS
from server.demo.district import DISTRICT_CODE, load_demo
from server.settings import Settings
from server.tables import District


@pytest.fixture(scope="module")
async def demo_id(client, tmp_path_factory) -> int:
    await District.delete().where(District.code == DISTRICT_CODE)
    await load_demo(Settings(photo_dir=tmp_path_factory.mktemp("demo-photos")))
    return (await District.select(District.id).where(District.code == DISTRICT_CODE).first())["id"]


async def test_the_demo_registers_a_phone_case_from_an_address_into_its_cell(client, demo_id):
    r = await client.post("/auth/login", json={"username": "agent", "password": "gridcase"})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.get("/cases", params={"q": PHONE_ADDRESS, "limit": 5}, headers=headers)
    (case,) = r.json()["items"]
    assert case["channel"] == "phone" and case["location_source"] == "geocoded"
    entry = await fetch(
        "SELECT label, grid_id, ST_Y(geom) AS lat, ST_X(geom) AS lon FROM addresses WHERE id = {}",
        case["address_match"]["entry_id"],
    )
    assert entry[0]["label"] == "长宁路12号"
    assert case["grid_id"] == entry[0]["grid_id"] is not None
    assert (case["lat"], case["lon"]) == (entry[0]["lat"], entry[0]["lon"])
    cell = await fetch(
        "SELECT count(*) AS n FROM grids "
        "WHERE id = {} AND ST_Covers(geom, ST_SetSRID(ST_MakePoint({}, {}), 4326))",
        case["grid_id"],
        case["lon"],
        case["lat"],
    )
    assert cell[0]["n"] == 1


async def test_the_demo_register_has_over_two_thousand_entries_all_in_cells(demo_id):
    rows = await fetch(
        "SELECT count(*) AS n, count(*) FILTER (WHERE grid_id IS NULL) AS unplaced FROM addresses "
        "WHERE district_id = {}",
        demo_id,
    )
    assert rows[0]["n"] >= 2000 and rows[0]["unplaced"] == 0
