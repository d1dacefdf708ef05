"""Intake with the register (confusing.py): a clear address takes its entry's point and cell, a close
or weak one is flagged for an agent, a phone's point always wins, and a bare point is named."""

from __future__ import annotations

import pytest

from server.tables import Case
from tests.geo.addresses.confusing import CELL_A, CELL_B, CELL_C, load_confusing, spots
from tests.support import patrol_report


@pytest.fixture
async def entries(world) -> dict[str, int]:
    return await load_confusing(world)


async def register(client, headers, **fields) -> dict:
    body = {"type": "complaint", "description": "Broken street light", **fields}
    r = await client.post("/cases", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def entry_point(entry_id: int) -> tuple[float, float]:
    rows = await Case.raw(
        "SELECT ST_Y(geom) AS lat, ST_X(geom) AS lon FROM addresses WHERE id = {}", entry_id
    )
    return rows[0]["lat"], rows[0]["lon"]


@pytest.mark.parametrize(
    ("address", "entry", "cell", "unit"),
    [
        ("长宁路100号", "e1", CELL_A, "street-1"),
        ("上海市静安区延安西路１００号", "e2", CELL_C, "street-1"),
        ("江苏路8号华山小区3幢2单元", "e7", CELL_B, "street-2"),
        ("长宁路200号华山小区三号楼二单元", "e6", CELL_A, "street-1"),
    ],
)
async def test_a_clear_address_takes_its_entrys_point_and_cell_and_routing_follows(
    client, login, world, entries, address, entry, cell, unit
):
    headers = await login("agent")
    case = await register(client, headers, address=address)
    assert case["location_source"] == "geocoded" and case["needs_location"] is False
    assert case["address_match"]["entry_id"] == entries[entry]
    assert case["address_match"]["score"] >= 0.75
    assert case["address"] == address  # what the caller said is kept
    assert (case["lat"], case["lon"]) == pytest.approx(await entry_point(entries[entry]))
    assert case["grid_id"] == world.grids[cell]
    route = await client.get(f"/cases/{case['id']}/route", headers=headers)
    assert route.status_code == 200 and route.json()["lead_unit_id"] == world.units[unit]
    again = await client.get(f"/cases/{case['id']}", headers=headers)
    assert again.json()["address_match"] == case["address_match"]


@pytest.mark.parametrize(
    "address",
    [
        "华山小区3栋2单元",  # two compounds of that name, in different streets
        "华山小区",
        "延安西路",  # a road, no door
        "人民广场",  # nothing like it in the register
    ],
)
async def test_a_close_or_weak_address_keeps_the_address_and_needs_a_location(
    client, login, entries, address
):
    case = await register(client, await login("agent"), address=address)
    assert case["needs_location"] is True
    assert case["location_source"] is None and case["address_match"] is None
    assert case["lat"] is None and case["grid_id"] is None
    assert case["address"] == address


async def test_a_named_place_inside_a_compound_is_not_a_real_choice(client, login, world, entries):
    case = await register(client, await login("agent"), address="华山小区阳光幼儿园")
    assert case["location_source"] == "geocoded" and case["address_match"]["entry_id"] == entries["e8"]
    assert case["grid_id"] == world.grids[CELL_A]


async def test_a_phones_point_wins_over_the_typed_address(client, login, world, entries):
    lat, lon = (await spots(world.grids[CELL_B], 1))[0]
    case = await register(client, await login("agent"), address="长宁路100号", lat=lat, lon=lon)
    assert case["location_source"] == "gps" and case["needs_location"] is False
    assert (case["lat"], case["lon"]) == (lat, lon)
    assert case["grid_id"] == world.grids[CELL_B]
    assert case["address"] == "长宁路100号" and case["address_match"] is None


async def test_a_point_with_no_address_takes_the_nearest_entrys(client, login, entries):
    lat, lon = await entry_point(entries["e9"])
    case = await register(client, await login("agent"), lat=lat + 0.0002, lon=lon)
    assert case["location_source"] == "gps"
    assert case["address"] == "长宁路菜市场"
    assert case["address_match"]["entry_id"] == entries["e9"]
    assert 15 < case["address_match"]["distance_m"] < 30


async def test_a_point_far_from_every_entry_stays_unnamed(client, login, world, entries):
    far = await spots(world.grids["D1-S2-C3-06"], 1)
    case = await register(client, await login("agent"), lat=far[0][0], lon=far[0][1])
    assert case["address"] == "" and case["address_match"] is None and case["location_source"] == "gps"


async def test_nearest_endpoint_names_a_point(client, login, entries):
    lat, lon = await entry_point(entries["e1"])
    headers = await login("worker1")
    r = await client.get("/geo/addresses/nearest", params={"lat": lat, "lon": lon}, headers=headers)
    assert r.status_code == 200 and r.json()["entry"]["entry_id"] == entries["e1"]
    r = await client.get("/geo/addresses/nearest", params={"lat": 0, "lon": 0}, headers=headers)
    assert r.status_code == 200 and r.json() == {"entry": None}
    r = await client.get("/geo/addresses/nearest", params={"lat": 91, "lon": 0}, headers=headers)
    assert r.status_code == 400 and r.json()["code"]


async def test_a_patrol_report_without_an_address_is_named_by_the_register(client, world, entries, device):
    headers, device_id = await device("worker1")
    lat, lon = await entry_point(entries["e1"])
    report = patrol_report(lat, lon, "Dumping")
    r = await client.post("/sync/push", headers=headers, json={"device_id": device_id, "mutations": [report]})
    (result,) = r.json()["results"]
    assert result["status"] == "applied", result
    assert result["case"]["address"] == "长宁路100号" and result["case"]["location_source"] == "gps"
    assert result["case"]["grid_id"] == world.grids[CELL_A]


async def test_a_flagged_case_is_placed_by_hand_from_an_entry_or_a_point(client, login, world, entries):
    agent = await login("agent")
    flagged = await register(client, agent, address="华山小区")
    assert flagged["needs_location"] is True
    r = await client.post(f"/cases/{flagged['id']}/place", headers=agent, json={"address_id": entries["e8"]})
    assert r.status_code == 200, r.text
    placed = r.json()
    assert placed["needs_location"] is False and placed["location_source"] == "placed"
    assert placed["address_match"]["entry_id"] == entries["e8"] and placed["grid_id"] == world.grids[CELL_A]
    assert placed["lat"] is not None and placed["version"] == flagged["version"] + 1
    assert placed["events"][-1]["action"] == "place"
    # The point column moved too: the map finds the case in its cell.
    counts = (await client.get("/map/cells/counts", headers=agent)).json()["cells"]
    assert {c["grid_id"]: c["open"] for c in counts}[world.grids[CELL_A]] >= 1
    route = (await client.get(f"/cases/{flagged['id']}/route", headers=agent)).json()
    assert route["source"] in ("rule", "grid_unit")
    # By a point instead: the cell follows the point.
    lat, lon = (await spots(world.grids[CELL_B], 1))[0]
    again = await client.post(f"/cases/{flagged['id']}/place", headers=agent, json={"lat": lat, "lon": lon})
    assert again.status_code == 200 and again.json()["grid_id"] == world.grids[CELL_B]
    assert again.json()["address_match"] is None


async def test_placing_refuses_a_bad_request_and_other_roles(client, login, world, entries):
    agent, worker = await login("agent"), await login("worker1")
    case = await register(client, agent, address="华山小区")
    before = (await client.get(f"/cases/{case['id']}", headers=agent)).json()["version"]
    for body, code in (
        ({}, "invalid_location"),
        ({"lat": 31.2}, "invalid_location"),
        ({"address_id": entries["e8"], "lat": 31.2, "lon": 121.4}, "invalid_location"),
        ({"address_id": 2**31 - 1}, "unknown_address"),
    ):
        r = await client.post(f"/cases/{case['id']}/place", headers=agent, json=body)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
    r = await client.post(f"/cases/{case['id']}/place", headers=agent, json={"address_id": 2**31})
    assert r.status_code == 400
    r = await client.post(f"/cases/{case['id']}/place", headers=worker, json={"address_id": entries["e8"]})
    assert r.status_code == 403
    after = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    assert after["version"] == before and after["needs_location"] is True
