"""Likely repeats at the distance and time boundaries, same caller about the same place, and linking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from server.tables import Case, District, Grid
from tests.support import World

BASE = (31.2305, 121.4590)  # inside the demo district, cell D1-S1-C2-02's neighbourhood


async def offset(metres: float, azimuth_deg: float = 45.0) -> tuple[float, float]:
    """The point `metres` from BASE along the WGS84 spheroid, as (lat, lon)."""
    row = (
        await Grid.raw(
            "SELECT ST_Y(p::geometry) AS lat, ST_X(p::geometry) AS lon FROM "
            "ST_Project(ST_SetSRID(ST_MakePoint({}, {}), 4326)::geography, {}, radians({})) AS p",
            BASE[1],
            BASE[0],
            metres,
            azimuth_deg,
        )
    )[0]
    return row["lat"], row["lon"]


async def new_case(
    client, headers, world: World, *, category: str = "city_appearance", at=None, **fields
) -> str:
    point = await offset(at) if at is not None else BASE
    body = {
        "type": "complaint",
        "description": "Rubbish by the road",
        "category_id": world.categories[category],
        "lat": point[0],
        "lon": point[1],
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/cases", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def set_row(case_id: str, **values) -> None:
    assignments = ", ".join(f"{k} = {{}}" for k in values)
    await Case.raw(f"UPDATE cases SET {assignments} WHERE id = {{}}", *values.values(), uuid.UUID(case_id))


async def repeats_of(client, headers, case_id: str) -> dict[str, dict]:
    r = await client.get(f"/cases/{case_id}/repeats", headers=headers)
    assert r.status_code == 200, r.text
    return {c["case_id"]: c for c in r.json()}


async def test_same_category_within_the_radius_inclusive(world: World, client, login):
    agent = await login("agent")
    inside = await new_case(client, agent, world, at=99.5)
    outside = await new_case(client, agent, world, at=100.5)
    other_category = await new_case(client, agent, world, at=10, category="greening")
    probe = await new_case(client, agent, world)
    later = await new_case(client, agent, world, at=20)
    found = await repeats_of(client, agent, probe)
    assert set(found) == {inside}
    assert abs(found[inside]["distance_m"] - 99.5) <= 0.1
    assert found[inside]["reasons"] == ["same_category_nearby"]
    assert outside not in found and other_category not in found and later not in found
    # Both limits are the district's: a wider radius takes the 100.5 m case in.
    await District.update({District.repeat_radius_m: 150.0}).where(District.id == world.district_id)
    assert set(await repeats_of(client, agent, probe)) == {inside, outside}


async def test_the_time_window_is_inclusive_and_archived_cases_are_out(world: World, client, login):
    agent = await login("agent")
    at = datetime.now(UTC).replace(microsecond=0)
    edge = await new_case(client, agent, world, at=10)
    too_old = await new_case(client, agent, world, at=10)
    archived = await new_case(client, agent, world, at=10)
    closed = await new_case(client, agent, world, at=10)
    probe = await new_case(client, agent, world)
    await set_row(probe, registered_at=at)
    await set_row(edge, registered_at=at - timedelta(days=30))
    await set_row(too_old, registered_at=at - timedelta(days=30, seconds=1))
    await set_row(archived, registered_at=at - timedelta(days=1), status="archived")
    await set_row(
        closed, registered_at=at - timedelta(days=5), status="closed", closed_at=at - timedelta(days=2)
    )
    assert set(await repeats_of(client, agent, probe)) == {edge, closed}
    await District.update({District.repeat_days: 31}).where(District.id == world.district_id)
    assert set(await repeats_of(client, agent, probe)) == {edge, closed, too_old}


async def test_the_same_caller_about_the_same_place(world: World, client, login):
    agent = await login("agent")
    phone = {"complainant_phone": "13812345678", "address": "88 Nanjing Road"}
    near = await new_case(client, agent, world, at=60, category="greening", complainant_phone="138-1234-5678")
    same_address = await new_case(
        client,
        agent,
        world,
        category="planning",
        lat=None,
        lon=None,
        complainant_phone="138 1234 5678",
        address="  88  NANJING road ",
    )
    far = await new_case(
        client,
        agent,
        world,
        at=500,
        category="greening",
        complainant_phone="13812345678",
        address="1 Other Street",
    )
    anonymous = await new_case(
        client, agent, world, at=30, category="greening", anonymous=True, complainant_phone="13812345678"
    )
    other_caller = await new_case(
        client, agent, world, at=30, category="greening", complainant_phone="13900001111"
    )
    both = await new_case(client, agent, world, at=30, complainant_phone="13812345678")
    probe = await new_case(client, agent, world, **phone)
    found = await repeats_of(client, agent, probe)
    assert set(found) == {near, same_address, both}
    assert found[near]["reasons"] == ["same_caller_same_place"]
    assert (
        found[same_address]["reasons"] == ["same_caller_same_place"]
        and found[same_address]["distance_m"] is None
    )
    assert found[both]["reasons"] == ["same_category_nearby", "same_caller_same_place"]
    assert [c["case_id"] for c in (await client.get(f"/cases/{probe}/repeats", headers=agent)).json()] == [
        both,
        near,
        same_address,
    ], "nearest first, cases without a point last"
    assert far not in found and anonymous not in found and other_caller not in found


async def test_an_agent_links_a_repeat_and_the_case_becomes_important(world: World, client, login):
    agent = await login("agent")
    first = await new_case(client, agent, world, at=40)
    second = await new_case(client, agent, world, at=45)
    probe = await new_case(client, agent, world)
    r = await client.post(f"/cases/{probe}/link-repeat", headers=agent, json={"repeat_of": first})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["repeat_of"] == first and case["urgency"] == "important" and case["version"] == 2
    event = case["events"][-1]
    assert event["action"] == "link_repeat" and event["data"]["repeat_of"] == first
    r = await client.post(f"/cases/{probe}/link-repeat", headers=agent, json={"repeat_of": first})
    assert r.status_code == 200 and r.json()["version"] == 2, "linking again changes nothing"
    r = await client.post(f"/cases/{probe}/link-repeat", headers=agent, json={"repeat_of": second})
    assert r.status_code == 409 and r.json()["code"] == "already_linked"
    r = await client.post(f"/cases/{second}/link-repeat", headers=agent, json={"repeat_of": second})
    assert r.status_code == 422 and r.json()["code"] == "self_repeat"
    r = await client.post(f"/cases/{first}/link-repeat", headers=agent, json={"repeat_of": probe})
    assert r.status_code == 422 and r.json()["code"] == "not_earlier"
    r = await client.post(
        f"/cases/{second}/link-repeat", headers=agent, json={"repeat_of": str(uuid.uuid4())}
    )
    assert r.status_code == 404 and r.json()["field"] == "repeat_of"
    r = await client.post(f"/cases/{second}/link-repeat", headers=agent, json={"repeat_of": "not-a-uuid"})
    assert r.status_code == 400
    r = await client.post(
        f"/cases/{second}/link-repeat", headers=await login("worker1"), json={"repeat_of": first}
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    assert (await client.get(f"/cases/{second}/repeats", headers=await login("worker1"))).status_code == 403
    urgent = await new_case(client, agent, world, urgency="urgent")
    r = await client.post(
        f"/cases/{urgent}/link-repeat", headers=await login("admin"), json={"repeat_of": first}
    )
    assert r.status_code == 200 and r.json()["urgency"] == "urgent" and r.json()["repeat_of"] == first
