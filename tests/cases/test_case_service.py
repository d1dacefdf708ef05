"""The case API's answers: a stored write is never a 404, texts are bounded, a case view stays
small however long its timeline, a repeat link never shows a case the reader may not see, and a
co-handling unit adds notes but does not move the status."""

from __future__ import annotations

import pytest

from server.cases.service import VIEW_EVENTS
from tests.support import World, new_case


async def post(client, headers, case: dict, action: str, payload: dict | None = None, **kw):
    body = {"version": case["version"], "payload": payload or {}, **kw}
    return await client.post(f"/cases/{case['id']}/{action.replace('_', '-')}", headers=headers, json=body)


async def test_a_squad_returning_its_misrouted_case_gets_a_receipt_and_no_retry_duplicates(
    client, world: World, login
):
    agent, squad = await login("agent"), await login("squad1")
    case = await new_case(client, agent, world, dispatch_to="squad")
    r = await post(client, squad, case, "return", {"reason": "not ours: the water board's"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "view": "receipt",
        "id": case["id"],
        "ticket": case["ticket"],
        "version": case["version"] + 1,
        "status": "registered",
        "light": "green",
    }
    # The return is stored once: the office sees it, the squad no longer does.
    stored = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    assert (stored["status"], stored["version"], stored["events"][-1]["action"]) == (
        "registered",
        case["version"] + 1,
        "return",
    )
    assert (await client.get(f"/cases/{case['id']}", headers=squad)).status_code == 404


async def test_a_grid_worker_registering_outside_their_cells_gets_a_receipt(client, world: World, login):
    worker1 = await login("worker1")
    r = await client.post(
        "/cases",
        headers=worker1,
        json={"type": "complaint", "description": "Seen on the way home", "lat": 31.225, "lon": 121.475},
    )
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert (receipt["view"], receipt["status"], receipt["version"]) == ("receipt", "registered", 1)
    assert set(receipt) == {"view", "id", "ticket", "version", "status", "light"}
    # worker2 owns that cell and reads the whole case.
    r = await client.get(f"/cases/{receipt['id']}", headers=await login("worker2"))
    assert r.status_code == 200 and r.json()["view"] == "case"


async def test_a_co_unit_notes_but_does_not_move_the_status(client, world: World, login):
    agent, squad = await login("agent"), await login("squad1")
    case = await new_case(client, agent, world)
    r = await post(
        client,
        agent,
        case,
        "dispatch",
        {"unit_id": world.units["street"], "co_unit_ids": [world.units["squad"]]},
    )
    case = r.json()
    for action, payload in (("accept", {}), ("return", {"reason": "not ours"})):
        r = await post(client, squad, case, action, payload)
        assert r.status_code == 403 and r.json()["code"] == "forbidden_role", action
    r = await post(client, squad, case, "note", {"text": "our opinion: the pole is rusted through"})
    assert r.status_code == 200 and r.json()["status"] == "dispatched"
    r = await post(client, await login("worker1"), r.json(), "accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("note", {"text": "x" * 200_000}, "text"),
        ("note", {"text": "x" * 2_001}, "text"),
        ("return", {"reason": "x" * 1_001}, "reason"),
        ("request_extension", {"days": 2, "reason": "x" * 1_001}, "reason"),
    ],
)
async def test_texts_are_limited(client, world: World, login, action: str, payload: dict, field: str):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    r = await post(client, await login("worker1"), case, action, payload)
    assert r.status_code in (400, 422), r.text
    assert (r.json()["code"], r.json()["field"]) == ("invalid_value", f"payload.{field}")
    after = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    assert after["version"] == case["version"], "nothing was stored"


async def test_a_view_carries_the_last_events_and_the_rest_pages(client, world: World, login):
    agent = await login("agent")
    case = await new_case(client, agent, world)
    for n in range(VIEW_EVENTS + 9):
        r = await post(client, agent, case, "note", {"text": f"call {n}"})
        assert r.status_code == 200, r.text
        case = r.json()
    total = VIEW_EVENTS + 10  # the registration and the notes
    assert (case["events_total"], len(case["events"])) == (total, VIEW_EVENTS)
    assert [e["seq"] for e in case["events"]] == list(range(11, total + 1))
    pulled = []
    before = None
    while True:
        params = {"limit": 25} | ({"before_seq": before} if before else {})
        page = (await client.get(f"/cases/{case['id']}/events", headers=agent, params=params)).json()
        assert page["total"] == total
        pulled = page["events"] + pulled
        before = page["before_seq"]
        if before is None:
            break
    assert [e["seq"] for e in pulled] == list(range(1, total + 1))
    assert pulled[0]["action"] == "register" and pulled[-1]["note"] == f"call {VIEW_EVENTS + 8}"
    r = await client.get(f"/cases/{case['id']}/events", headers=await login("worker2"))
    assert r.status_code == 404 and r.json()["code"] == "case_not_found"


async def test_a_complaint_cannot_repeat_an_accusation(client, world: World, login):
    agent = await login("agent")
    report = await new_case(client, agent, world, type="report", accused_unit_id=world.units["squad"])
    complaint = await new_case(client, agent, world)
    r = await client.post(
        f"/cases/{complaint['id']}/link-repeat", headers=agent, json={"repeat_of": report["id"]}
    )
    assert r.status_code == 422 and r.json()["code"] == "accusation_link"
    assert (await client.get(f"/cases/{complaint['id']}", headers=agent)).json()["repeat_of"] is None


async def test_a_repeat_link_is_shown_only_to_who_may_see_the_earlier_case(client, world: World, login):
    agent = await login("agent")
    # The first accuses the squad; the second, about the same thing, accuses the street office.
    first = await new_case(client, agent, world, type="report", accused_unit_id=world.units["squad"])
    second = await new_case(client, agent, world, type="report", accused_unit_id=world.units["street"])
    r = await client.post(
        f"/cases/{second['id']}/link-repeat", headers=agent, json={"repeat_of": first["id"]}
    )
    assert r.status_code == 200 and r.json()["repeat_of"] == first["id"]
    r = await post(
        client,
        agent,
        r.json(),
        "dispatch",
        {"unit_id": world.units["office"], "co_unit_ids": [world.units["squad"]]},
    )
    assert r.status_code == 200, r.text
    # The squad co-handles the second but is accused by the first: no trace of it.
    seen = (await client.get(f"/cases/{second['id']}", headers=await login("squad1"))).json()
    assert seen["repeat_of"] is None
    link = [e for e in seen["events"] if e["action"] == "link_repeat"]
    assert link and link[0]["note"] == "" and link[0]["data"] == {}
    assert first["ticket"] not in str(seen)
    page = (await client.get(f"/cases/{second['id']}/events", headers=await login("squad1"))).json()
    assert first["ticket"] not in str(page) and first["id"] not in str(page)
    # The office reads both, and the link with them.
    assert (await client.get(f"/cases/{second['id']}", headers=agent)).json()["repeat_of"] == first["id"]
