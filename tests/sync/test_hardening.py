"""Sync against a hostile or broken client (issue 18, DESIGN §7): forged cursors, tombstones that
would name what the caller may not see, values PostgreSQL cannot store, old field names."""

from __future__ import annotations

import base64
import uuid

import msgspec

from server.db import fetch
from tests.api.test_transitions_api import act, photo_pair
from tests.support import World, jpeg, new_case, photo_slot
from tests.sync.test_sync_api import mutation, pull_all, push


def _body(cursor: str) -> list:
    text = cursor.split(".")[0]
    return msgspec.json.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _forge(body: list, mac: str = "") -> str:
    text = base64.urlsafe_b64encode(msgspec.json.encode(body)).decode().rstrip("=")
    return f"{text}.{mac}" if mac else text


async def _pull_status(client, headers, device_id, cursor) -> tuple[int, dict]:
    r = await client.post(
        "/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor, "limit": 100}
    )
    return r.status_code, r.json()


async def test_a_hand_made_or_borrowed_cursor_is_invalid(client, world: World, login, device):
    agent = await login("agent")
    await new_case(client, agent, world, cell="cell_a")
    headers, device_id = await device("worker1")
    _, _, cursor, _ = await pull_all(client, headers, device_id)
    body = _body(cursor)
    mac = cursor.split(".")[1]
    # The keys widened to every unit of the district, signed or not; the old unsigned format.
    wide = [body[0], body[1], None, None, [f"unit:{u}" for u in world.units.values()]]
    unsigned_v1 = _forge([body[1], None, None, wide[4]])
    for forged in (_forge(wide, mac), _forge(wide), unsigned_v1, cursor[:-2] + "AA", cursor + "x", "é.é"):
        status, answer = await _pull_status(client, headers, device_id, forged)
        assert (status, answer["code"]) == (400, "invalid_cursor"), forged
    # A cursor given to worker1 does not work for worker2, even on worker2's own device.
    other_headers, other_device = await device("worker2")
    status, answer = await _pull_status(client, other_headers, other_device, cursor)
    assert (status, answer["code"]) == (400, "invalid_cursor")
    status, _ = await _pull_status(client, headers, device_id, cursor)
    assert status == 200, "the genuine cursor still works for its user"


async def test_a_reassigned_cell_does_not_tombstone_an_accusation_against_the_worker(
    client, world: World, login, device
):
    agent = await login("agent")
    ordinary = await new_case(client, agent, world, cell="cell_a")
    accusation = await new_case(
        client, agent, world, cell="cell_a", type="report", accused_user_id=world.users["worker1"]
    )
    headers, device_id = await device("worker1")
    seen, _, cursor, _ = await pull_all(client, headers, device_id)
    assert ordinary["id"] in seen and accusation["id"] not in seen
    from server.db import fetch

    await fetch(
        "UPDATE grid_workers SET user_id = {} WHERE grid_id = {}",
        world.users["worker2"],
        world.grids["cell_a"],
    )
    _, tombstones, _, _ = await pull_all(client, headers, device_id, cursor)
    assert tombstones == [ordinary["id"]]


async def test_an_archived_accusation_is_no_tombstone_for_the_accused(client, world: World, login, device):
    """The accusation in worker1's cell leaves the cell's key when archived; worker1 never saw it."""
    agent, admin, member = await login("agent"), await login("admin"), await login("member1")
    accusation = await new_case(
        client, agent, world, cell="cell_a", type="report", accused_user_id=world.users["worker1"]
    )
    ordinary = await new_case(client, agent, world, cell="cell_a")
    headers, device_id = await device("worker1")
    seen, _, cursor, _ = await pull_all(client, headers, device_id)
    assert ordinary["id"] in seen and accusation["id"] not in seen
    photos = [await photo_pair(world), await photo_pair(world)]
    # The accusation is led from above the accused worker's street office, the squad member handles it.
    dispatches = (
        {"unit_id": world.units["office"], "assignee_id": world.users["member1"]},
        {"unit_id": world.units["squad"]},
    )
    for case, pair, dispatch in zip((accusation, ordinary), photos, dispatches, strict=True):
        case = await act(client, agent, case, "dispatch", dispatch)
        for action, payload in (
            ("accept", {}),
            ("arrive", {}),
            ("resolve", {"photo_ids": pair, "note": "done"}),
        ):
            case = await act(client, member, case, action, payload)
        case = await act(client, agent, case, "review", {"approved": True})
        case = await act(client, agent, case, "close")  # no contact given: no callback
        await act(client, admin, case, "archive")
    _, tombstones, _, _ = await pull_all(client, headers, device_id, cursor)
    assert tombstones == [ordinary["id"]]


async def test_values_postgres_cannot_store_are_rejected_alone_and_remembered(
    client, world: World, login, device
):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    accept = mutation(case, "accept")
    nul_note = mutation(case, "note", {"text": "pipe\u0000burst"})
    early = mutation(case, "arrive", client_time="0001-01-01T00:00:00+14:00")
    late = mutation(case, "note", {"text": "x"}, client_time="9999-12-31T23:59:59-14:00")
    nul_report = {
        **mutation(case, "report", base_version=0),
        "case_id": str(uuid.uuid4()),
        "payload": {
            "category": "city_appearance",
            "type": "complaint",
            "description": "dumping\u0000",
            "lat": 31.226,
            "lon": 121.466,
        },
    }
    arrive = mutation(case, "arrive")
    batch = [accept, nul_note, early, late, nul_report, arrive]
    results = await push(client, headers, device_id, batch)
    assert [r["status"] for r in results] == [
        "applied",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "applied",
    ]
    assert {r["code"] for r in results[1:5]} == {"invalid_value"}
    assert results[-1]["case"]["status"] == "on_site"
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    assert [e["action"] for e in r.json()["events"]] == ["register", "dispatch", "accept", "arrive"]
    replay = await push(client, headers, device_id, batch)
    assert [r["status"] for r in replay] == ["duplicate"] * 6
    assert [r["original_status"] for r in replay] == [r["status"] for r in results]
    assert replay[1]["code"] == "invalid_value"


async def test_malformed_mutations_are_rejected_alone_and_remembered(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    wrong_action = mutation(case, "fly")
    negative_version = mutation(case, "accept", base_version=-1)
    no_case = {**mutation(case, "note", {"text": "x"}), "case_id": "nope"}
    huge_action = mutation(case, "x" * 100_000)  # its message would echo it
    wrong_payload = mutation(case, "note", {"text": 5})
    good = mutation(case, "accept")
    batch = [5, "text", None, [1], wrong_action, negative_version, no_case, huge_action, wrong_payload, good]
    results = await push(client, headers, device_id, batch)
    assert [r["status"] for r in results] == ["rejected"] * 9 + ["applied"]
    assert {r["code"] for r in results[:8]} == {"invalid_mutation"}
    assert len(results[7]["message"]) < 1000
    assert results[8]["code"] == "invalid_payload"
    replay = await push(client, headers, device_id, batch[4:])
    assert [(r["status"], r.get("original_status")) for r in replay] == [("duplicate", "rejected")] * 5 + [
        ("duplicate", "applied")
    ]


async def test_gps_accuracy_in_metres_under_either_name(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    new_name = mutation(case, "note", {"text": "a"}, gps={"lat": 31.2, "lon": 121.4, "accuracy_m": 7})
    old_name = mutation(case, "note", {"text": "b"}, gps={"lat": 31.2, "lon": 121.4, "accuracy": 7})
    both = mutation(
        case, "note", {"text": "c"}, gps={"lat": 31.2, "lon": 121.4, "accuracy": 7, "accuracy_m": 9}
    )
    results = await push(client, headers, device_id, [new_name, old_name, both])
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["code"] == "invalid_mutation" and "accuracy" in results[2]["message"]
    # A replay that renamed the field is the same mutation.
    renamed = {**old_name, "gps": {"lat": 31.2, "lon": 121.4, "accuracy_m": 7}}
    (replay,) = await push(client, headers, device_id, [renamed])
    assert replay["status"] == "duplicate"
    schema = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    gps = schema["PushRequest"]["properties"]["mutations"]["items"]["properties"]["gps"]["anyOf"][0]
    assert "accuracy_m" in gps["properties"] and gps["properties"]["accuracy"]["deprecated"] is True


async def test_a_client_time_without_a_zone_is_refused_and_the_schema_says_so(
    client, world: World, login, device
):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    naive = mutation(case, "accept", client_time="2026-11-23T08:00:00")
    utc = mutation(case, "accept", client_time="2026-11-23T00:00:00Z")
    results = await push(client, headers, device_id, [naive, utc])
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["code"] == "invalid_mutation" and "timezone" in results[0]["message"]
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    assert r.json()["events"][-1]["client_time"].startswith("2026-11-23T00:00:00")
    schema = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    client_time = schema["PushRequest"]["properties"]["mutations"]["items"]["properties"]["client_time"]
    assert "without one it is refused" in client_time["anyOf"][0]["description"]


async def test_a_photo_taken_at_without_a_zone_is_refused_like_a_client_time(client, world: World, login):
    headers = await login("worker1")
    before = await fetch("SELECT count(*) AS n FROM photos WHERE district_id = {}", world.district_id)
    r = await client.post(
        "/photos/slots", headers=headers, json=photo_slot("before", jpeg(), taken_at="2026-11-23T09:00:00")
    )
    assert r.status_code == 400 and r.json()["field"] == "taken_at"
    after = await fetch("SELECT count(*) AS n FROM photos WHERE district_id = {}", world.district_id)
    assert after[0]["n"] == before[0]["n"]
    schema = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert "without one it is refused" in schema["PhotoSlotRequest"]["properties"]["taken_at"]["description"]
