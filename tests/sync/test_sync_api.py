"""The offline sync API over HTTP: paged pulls, empty re-pulls, tombstones, exactly-once pushes."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from server.db import fetch
from tests.support import World, new_case


async def pull_all(client, headers, device_id, cursor=None, limit=100):
    """Pull pages until has_more is false; returns (cases by id, tombstones, cursor, pages)."""
    seen, tombstones, pages = {}, [], 0
    while True:
        r = await client.post(
            "/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor, "limit": limit}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        for case in body["cases"]:
            seen[case["id"]] = case
        tombstones += body["tombstones"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return seen, tombstones, cursor, pages


def mutation(case, action, payload=None, base_version=None, **extra):
    return {
        "id": str(uuid.uuid4()),
        "case_id": case["id"],
        "action": action,
        "payload": payload or {},
        "base_version": case["version"] if base_version is None else base_version,
        "client_time": "2026-11-23T08:00:00+08:00",
        "gps": {"lat": 31.225, "lon": 121.465, "accuracy_m": 5},
        **extra,
    }


async def push(client, headers, device_id, mutations):
    r = await client.post(
        "/sync/push", headers=headers, json={"device_id": device_id, "mutations": mutations}
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_first_pull_is_a_paged_snapshot_of_the_scope_then_empty(client, world: World, login, device):
    agent = await login("agent")
    mine = [await new_case(client, agent, world, cell="cell_a") for _ in range(5)]
    await new_case(client, agent, world, cell="cell_b")
    headers, device_id = await device("worker1")
    seen, tombstones, cursor, pages = await pull_all(client, headers, device_id, limit=2)
    assert set(seen) == {c["id"] for c in mine}
    assert pages == 3 and tombstones == []
    case = seen[mine[0]["id"]]
    assert {"id", "ticket", "version", "status", "light", "events", "photos"} <= set(case)
    assert case["events"][0]["action"] == "register"
    r = await client.post(
        "/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor, "limit": 2}
    )
    assert r.json()["cases"] == [] and r.json()["has_more"] is False


async def test_a_change_committed_late_is_not_skipped(client, world: World, login, device):
    """Writer A takes its transaction id first and commits last; the cursor must still catch it."""
    agent = await login("agent")
    first = await new_case(client, agent, world)
    second = await new_case(client, agent, world)
    headers, device_id = await device("worker1")
    _, _, cursor, _ = await pull_all(client, headers, device_id)

    from server.tables import Case

    dsn = Case._meta.db.config["dsn"]
    slow, fast = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await slow.execute(
            "UPDATE cases SET title = 'slow writer', version = version WHERE id = $1", uuid.UUID(first["id"])
        )
        await fast.execute("UPDATE cases SET title = 'fast writer' WHERE id = $1", uuid.UUID(second["id"]))
        seen, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
        assert set(seen) == {second["id"]}, "only the committed change is visible yet"
        await slow_tx.commit()
    finally:
        await slow.close()
        await fast.close()
    seen, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    assert set(seen) == {first["id"]}
    assert seen[first["id"]]["title"] == "slow writer"


async def test_push_applies_once_replays_answer_duplicate_and_stale_conflicts(
    client, world: World, login, device
):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    accept = mutation(case, "accept")
    arrive = mutation(case, "arrive")  # same base version: built offline on the same phone
    results = await push(client, headers, device_id, [accept, arrive])
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert results[1]["case"]["status"] == "on_site" and results[1]["case"]["version"] == case["version"] + 2
    replay = await push(client, headers, device_id, [accept, arrive])
    assert [r["status"] for r in replay] == ["duplicate", "duplicate"]
    assert replay[1]["case"] == results[1]["case"]
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    events = r.json()["events"]
    assert [e["action"] for e in events] == ["register", "dispatch", "accept", "arrive"]
    assert events[2]["mutation_id"] == accept["id"] and events[3]["mutation_id"] == arrive["id"]

    # The office changes the case; an old-version status change from the phone is a conflict.
    current = r.json()
    r = await client.post(
        f"/cases/{case['id']}/note",
        headers=agent,
        json={"version": current["version"], "payload": {"text": "citizen called again"}},
    )
    assert r.status_code == 200
    stale = mutation(current, "return", {"reason": "not ours"})
    (result,) = await push(client, headers, device_id, [stale])
    assert result["status"] == "conflict" and result["code"] == "stale_version"
    assert result["case"]["version"] == current["version"] + 1
    # A note never conflicts.
    note = mutation(current, "note", {"text": "waiting for the crane"})
    (result,) = await push(client, headers, device_id, [note])
    assert result["status"] == "applied"


async def test_bad_mutations_are_rejected_alone(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    good = mutation(case, "accept")
    malformed = {**mutation(case, "note", {"text": "x"}), "id": "not-a-uuid"}
    forbidden = mutation(case, "resolve", {"note": "done", "photo_ids": []})
    unknown = {**mutation(case, "note", {"text": "x"}), "case_id": str(uuid.uuid4())}
    results = await push(client, headers, device_id, [malformed, good, forbidden, unknown])
    assert [r["status"] for r in results] == ["rejected", "applied", "rejected", "rejected"]
    assert results[0]["code"] == "invalid_mutation" and results[0]["id"] == "not-a-uuid"
    assert results[2]["code"] == "invalid_transition"
    assert results[3]["code"] == "case_not_found"
    reused = {**good, "payload": {}, "action": "arrive"}
    (result,) = await push(client, headers, device_id, [reused])
    assert result["status"] == "rejected" and result["code"] == "mutation_id_reused"
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    assert r.json()["status"] == "accepted", "the first use of the id stands"


async def test_devices_must_be_the_callers(client, world: World, login, device):
    headers, device_id = await device("worker1")
    other = await login("worker2")
    for body, status, code in (
        ({"device_id": device_id, "cursor": None, "limit": 10}, 403, "device_not_yours"),
        ({"device_id": str(uuid.uuid4()), "cursor": None, "limit": 10}, 404, "unknown_device"),
        ({"device_id": "nope", "cursor": None, "limit": 10}, 400, None),
    ):
        r = await client.post("/sync/pull", headers=other, json=body)
        assert r.status_code == status, r.text
        assert code is None or r.json()["code"] == code
    r = await client.post(
        "/sync/pull", headers=headers, json={"device_id": device_id, "cursor": "garbage!", "limit": 5}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await client.post(
        "/sync/push", headers=headers, json={"device_id": device_id, "mutations": [{}] * 101}
    )
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large"


async def test_case_leaving_the_scope_becomes_a_tombstone(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, cell="cell_b", dispatch_to="squad")
    headers, device_id = await device("member1")
    seen, _, cursor, _ = await pull_all(client, headers, device_id)
    assert case["id"] in seen
    (result,) = await push(
        client, headers, device_id, [mutation(case, "return", {"reason": "belongs to greening"})]
    )
    assert result["status"] == "applied"
    seen, tombstones, cursor, _ = await pull_all(client, headers, device_id, cursor)
    assert case["id"] not in seen and tombstones == [case["id"]]
    seen, tombstones, _, _ = await pull_all(client, headers, device_id, cursor)
    assert seen == {} and tombstones == []


async def test_patrol_report_creates_a_case_the_next_pull_shows(client, world: World, login, device):
    headers, device_id = await device("worker1")
    _, _, cursor, _ = await pull_all(client, headers, device_id)
    case_id = str(uuid.uuid4())
    report = {
        "id": str(uuid.uuid4()),
        "case_id": case_id,
        "base_version": 0,
        "action": "report",
        "payload": {
            "category": "city_appearance",
            "type": "complaint",
            "description": "Illegal dumping",
            "lat": 31.226,
            "lon": 121.466,
        },
        "client_time": "2026-11-23T09:00:00+08:00",
        "gps": {"lat": 31.226, "lon": 121.466, "accuracy": 4},
    }
    (result,) = await push(client, headers, device_id, [report])
    assert result["status"] == "applied", result
    assert result["case"]["channel"] == "patrol" and result["case"]["grid_id"] == world.grids["cell_a"]
    seen, _, _, _ = await pull_all(client, headers, device_id, cursor)
    assert seen[case_id]["ticket"] == result["case"]["ticket"]
    assert seen[case_id]["events"][0]["mutation_id"] == report["id"]
    (again,) = await push(client, headers, device_id, [report])
    assert again["status"] == "duplicate"
    clash = {**report, "id": str(uuid.uuid4())}
    (result,) = await push(client, headers, device_id, [clash])
    assert result["status"] == "rejected" and result["code"] == "case_exists"


async def test_concurrent_copies_of_one_mutation_apply_once(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    note = mutation(case, "note", {"text": "sent twice at once"})
    results = await asyncio.gather(*(push(client, headers, device_id, [note]) for _ in range(4)))
    statuses = sorted(r[0]["status"] for r in results)
    assert statuses == ["applied", "duplicate", "duplicate", "duplicate"]
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    assert [e["action"] for e in r.json()["events"]].count("note") == 1


async def test_a_reassigned_cell_leaves_one_phone_and_reaches_the_other(client, world: World, login, device):
    agent = await login("agent")
    in_a = await new_case(client, agent, world, cell="cell_a")
    old_phone, old_device = await device("worker1")
    new_phone, new_device = await device("worker2")
    _, _, old_cursor, _ = await pull_all(client, old_phone, old_device)
    seen, _, new_cursor, _ = await pull_all(client, new_phone, new_device)
    assert in_a["id"] not in seen
    # The cell changes hands; no case changes, yet both phones must follow.
    await fetch(
        "UPDATE grid_workers SET user_id = {} WHERE grid_id = {}",
        world.users["worker2"],
        world.grids["cell_a"],
    )
    seen, tombstones, _, _ = await pull_all(client, old_phone, old_device, old_cursor)
    assert in_a["id"] in tombstones and in_a["id"] not in seen
    seen, tombstones, _, _ = await pull_all(client, new_phone, new_device, new_cursor)
    assert in_a["id"] in seen and tombstones == []
