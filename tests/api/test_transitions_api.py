"""Every transition endpoint over HTTP (DESIGN §4): the whole path, its side roads, refusals, filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from geo.assign import cell_at
from server.accounts.service import actor_for_user
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.intake import register_case
from server.cases.schemas import CaseCreate, Registration
from server.demo.district import start_for_light
from server.tables import Photo, User
from tests.support import CELL_POINTS, World, new_case


async def act(client, headers, case: dict, action: str, payload: dict | None = None) -> dict:
    """POST /cases/{id}/<action> with the version the caller saw; returns the answer's JSON."""
    r = await client.post(
        f"/cases/{case['id']}/{action.replace('_', '-')}",
        headers=headers,
        json={"version": case["version"], "payload": payload or {}},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def photo_pair(world: World) -> list[str]:
    """A stored before photo in cell_a and its retake from the same spot, as a phone would upload them."""
    lat, lon = CELL_POINTS["cell_a"]
    taken = datetime.now(UTC) - timedelta(hours=2)
    before = Photo(
        id=uuid.uuid4(),
        district_id=world.district_id,
        kind="before",
        sha256="b" * 64,
        size=1000,
        content_type="image/jpeg",
        lat=lat,
        lon=lon,
        accuracy_m=5.0,
        heading=90.0,
        taken_at=taken,
        stored=True,
    )
    after = Photo(
        id=uuid.uuid4(),
        district_id=world.district_id,
        kind="after",
        before_id=before.id,
        sha256="a" * 64,
        size=1000,
        content_type="image/jpeg",
        lat=lat + 0.00003,
        lon=lon,
        accuracy_m=5.0,
        heading=96.0,
        taken_at=taken + timedelta(hours=1),
        stored=True,
    )
    await Photo.insert(before, after)
    return [str(before.id), str(after.id)]


async def resolved_case(client, world: World, login, **fields) -> dict:
    """A complaint in cell_a taken by worker1 from dispatch to resolved."""
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(client, agent, world, dispatch_to="street", **fields)
    case = await act(client, worker, case, "accept")
    case = await act(client, worker, case, "arrive")
    photos = await photo_pair(world)
    return await act(client, worker, case, "resolve", {"photo_ids": photos, "note": "cleared"})


async def test_full_path_registered_to_archived(client, world: World, login):
    agent, worker, admin = await login("agent"), await login("worker1"), await login("admin")
    case = await new_case(client, agent, world, complainant_phone="13812345678")
    assert (case["status"], case["version"]) == ("registered", 1)
    photos = await photo_pair(world)
    steps = [
        (agent, "dispatch", {"unit_id": world.units["street"]}, "dispatched"),
        (worker, "accept", {}, "accepted"),
        (worker, "arrive", {}, "on_site"),
        (worker, "resolve", {"photo_ids": photos, "note": "bins emptied"}, "resolved"),
        (agent, "review", {"approved": True}, "reviewed"),
        (agent, "callback", {"satisfaction": "satisfied"}, "called_back"),
        (agent, "close", {}, "closed"),
        (admin, "archive", {}, "archived"),
    ]
    for headers, action, payload, status in steps:
        version = case["version"]
        case = await act(client, headers, case, action, payload)
        assert (case["status"], case["version"]) == (status, version + 1), action
        assert case["events"][-1]["action"] == action
    assert [e["action"] for e in case["events"]] == ["register"] + [s[1] for s in steps]
    assert case["assignee_id"] == world.users["worker1"]
    assert sorted(p["id"] for p in case["photos"]) == sorted(photos)
    assert case["events"][4]["note"] == "bins emptied"
    assert case["satisfaction"] == "satisfied" and case["closed_at"] is not None
    # An archived case has left every handheld; the office still reads it.
    assert (await client.get(f"/cases/{case['id']}", headers=worker)).status_code == 404
    assert (await client.get(f"/cases/{case['id']}", headers=agent)).json()["status"] == "archived"


async def test_return_of_a_misrouted_case_then_redispatch(client, world: World, login):
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(client, agent, world, dispatch_to="street")
    case = await act(client, worker, case, "return", {"reason": "this is a bureau matter"})
    assert case["status"] == "registered"
    assert case["lead_unit_id"] is None and case["due_at"] is None
    assert case["events"][-1]["note"] == "this is a bureau matter"
    case = await act(client, agent, case, "dispatch", {"unit_id": world.units["bureau"]})
    assert (case["status"], case["lead_unit_id"]) == ("dispatched", world.units["bureau"])


async def test_unsatisfied_callback_reopens_for_rework(client, world: World, login):
    agent = await login("agent")
    case = await resolved_case(client, world, login, complainant_phone="13812345678")
    case = await act(client, agent, case, "review", {"approved": True})
    case = await act(
        client,
        agent,
        case,
        "callback",
        {"satisfaction": "unsatisfied", "unit_at_fault": True, "note": "bins still full"},
    )
    case = await act(client, agent, case, "reopen")
    assert (case["status"], case["rework_count"], case["satisfaction"]) == ("dispatched", 1, None)
    assert case["lead_unit_id"] == world.units["street"]


async def test_reopen_needs_an_unsatisfied_complainant(client, world: World, login):
    agent = await login("agent")
    case = await resolved_case(client, world, login, complainant_phone="13812345678")
    case = await act(client, agent, case, "review", {"approved": True})
    case = await act(client, agent, case, "callback", {"satisfaction": "satisfied"})
    r = await client.post(f"/cases/{case['id']}/reopen", headers=agent, json={"version": case["version"]})
    assert (r.status_code, r.json()["code"]) == (409, "reopen_not_allowed")


async def test_review_rejection_sends_the_work_back(client, world: World, login):
    agent = await login("agent")
    case = await resolved_case(client, world, login)
    case = await act(client, agent, case, "review", {"approved": False, "note": "photo shows rubbish left"})
    assert (case["status"], case["resolved_at"]) == ("accepted", None)


async def test_extension_request_and_approval_move_the_deadline(client, world: World, login):
    agent, squad1, leader1 = await login("agent"), await login("squad1"), await login("leader1")
    case = await new_case(client, agent, world, dispatch_to="squad")
    due = datetime.fromisoformat(case["due_at"])
    case = await act(client, squad1, case, "request_extension", {"days": 3, "reason": "needs a crane"})
    assert case["extension_requested_days"] == 3 and datetime.fromisoformat(case["due_at"]) == due
    case = await act(client, leader1, case, "approve_extension", {"approved": True})
    assert case["extension_requested_days"] is None
    assert datetime.fromisoformat(case["due_at"]) - due >= timedelta(days=3)
    assert case["events"][-1]["data"]["days"] == 3


async def test_assign_within_the_squad_only(client, world: World, login):
    agent, squad1, member1 = await login("agent"), await login("squad1"), await login("member1")
    case = await new_case(client, agent, world, dispatch_to="squad")
    outsider = {"assignee_id": world.users["worker1"]}
    r = await client.post(
        f"/cases/{case['id']}/assign", headers=squad1, json={"version": case["version"], "payload": outsider}
    )
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_assignee", "assignee_id")
    case = await act(client, squad1, case, "assign", {"assignee_id": world.users["member1"]})
    assert case["assignee_id"] == world.users["member1"]
    case = await act(client, member1, case, "accept")
    assert (case["status"], case["assignee_id"]) == ("accepted", world.users["member1"])


async def test_note_appends_without_changing_status(client, world: World, login):
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(client, agent, world, dispatch_to="street")
    after = await act(client, worker, case, "note", {"text": "called the property manager"})
    assert (after["status"], after["version"]) == ("dispatched", case["version"] + 1)
    last = after["events"][-1]
    assert (last["action"], last["note"]) == ("note", "called the property manager")


async def test_answer_closes_a_consultation_only(client, world: World, login):
    agent = await login("agent")
    consult = await new_case(client, agent, world, type="consult", description="When is bulky waste taken?")
    consult = await act(client, agent, consult, "answer", {"text": "Every Saturday morning"})
    assert consult["status"] == "closed" and consult["closed_at"] is not None
    complaint = await new_case(client, agent, world)
    r = await client.post(
        f"/cases/{complaint['id']}/answer", headers=agent, json={"version": 1, "payload": {"text": "noted"}}
    )
    assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")


# (status the case is brought to, who tries, action, payload): one refusal per role family.
REFUSALS = [
    ("registered", "worker1", "dispatch", {"unit_id": "street"}),
    ("dispatched", "agent", "accept", {}),
    ("dispatched", "evaluator1", "accept", {}),
    ("dispatched", "worker1", "approve_extension", {"approved": True}),
    ("dispatched", "worker1", "assign", {"assignee_id": "worker1"}),
    ("on_site", "agent", "resolve", {"photo_ids": []}),
    ("resolved", "worker1", "review", {"approved": True}),
    ("resolved", "evaluator1", "review", {"approved": True}),
    ("closed", "agent", "archive", {}),
]
_PATH = [
    ("dispatch", "agent"),
    ("accept", "worker1"),
    ("arrive", "worker1"),
    ("resolve", "worker1"),
    ("review", "agent"),
    ("callback", "agent"),
    ("close", "agent"),
]


async def case_at(client, world: World, login, status: str) -> dict:
    """A complaint in cell_a walked over HTTP along the main path until it reaches `status`."""
    case = await new_case(client, await login("agent"), world, complainant_phone="13812345678")
    payloads = {
        "dispatch": {"unit_id": world.units["street"]},
        "review": {"approved": True},
        "callback": {"satisfaction": "satisfied"},
    }
    for action, who in _PATH:
        if case["status"] == status:
            break
        if action == "resolve":
            payloads["resolve"] = {"photo_ids": await photo_pair(world)}
        case = await act(client, await login(who), case, action, payloads.get(action))
    assert case["status"] == status
    return case


@pytest.mark.parametrize(
    ("status", "who", "action", "payload"), REFUSALS, ids=[f"{w}-{a}-{s}" for s, w, a, _ in REFUSALS]
)
async def test_role_refusals(client, world: World, login, status, who, action, payload):
    case = await case_at(client, world, login, status)
    names = {**world.units, **world.users}
    payload = {k: names.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    r = await client.post(
        f"/cases/{case['id']}/{action.replace('_', '-')}",
        headers=await login(who),
        json={"version": case["version"], "payload": payload},
    )
    assert (r.status_code, r.json()["code"]) == (403, "forbidden_role"), r.text
    now = (await client.get(f"/cases/{case['id']}", headers=await login("agent"))).json()
    assert (now["status"], now["version"]) == (status, case["version"])
    assert len(now["events"]) == len(case["events"])


async def test_field_roles_see_the_phone_masked_unless_consented(client, world: World, login):
    agent = await login("agent")
    street = await new_case(client, agent, world, dispatch_to="street", complainant_phone="13812345678")
    squad = await new_case(client, agent, world, dispatch_to="squad", complainant_phone="13812345678")
    consented = await new_case(
        client, agent, world, dispatch_to="street", complainant_phone="13812345678", contact_consent=True
    )
    masked, full = "138****5678", "13812345678"
    for who, case, shown in [
        ("worker1", street, masked),
        ("squad1", squad, masked),
        ("member1", squad, masked),
        ("leader1", squad, masked),
        ("worker1", consented, full),
        ("agent", street, full),
        ("admin", squad, full),
        ("evaluator1", street, full),
    ]:
        r = await client.get(f"/cases/{case['id']}", headers=await login(who))
        assert r.json()["complainant_phone"] == shown, who
    listed = (await client.get("/cases", headers=await login("worker1"))).json()["items"]
    assert {c["id"]: c["complainant_phone"] for c in listed}[street["id"]] == masked


async def _backdated(world: World, light: str) -> str:
    """A planning case registered and dispatched in the past so that its light is `light` now.

    Planning's 15 working days have a 3-day warning window, so a yellow exists on weekends too."""
    district = world.district_id
    agent = await actor_for_user(await User.select().where(User.id == world.users["agent"]).first())
    calendar, limits = await cases.district_calendar(district), await cases.district_limits(district)
    start = start_for_light(calendar, limits, 15, light, datetime.now(UTC))
    lat, lon = CELL_POINTS["cell_a"]
    body = CaseCreate(
        type="complaint",
        description=f"{light} case",
        lat=lat,
        lon=lon,
        category_id=world.categories["planning"],
    )
    who = Registration(district_id=district, actor=agent, now=start - timedelta(hours=1))
    state = await register_case(body, who, cell_at)
    dispatch = lifecycle.DispatchPayload(unit_id=world.units["street"])
    await cases.act(state.id, lifecycle.Command(action="dispatch", payload=dispatch), agent, now=start)
    return str(state.id)


async def test_list_filters_and_paging(client, world: World, login):
    agent = await login("agent")
    lamp = await new_case(client, agent, world, dispatch_to="street", description="lamp alpha flickers")
    tree = await new_case(
        client,
        agent,
        world,
        cell="cell_b",
        description="fallen tree beta",
        category_id=world.categories["greening"],
    )
    squad = await new_case(
        client,
        agent,
        world,
        dispatch_to="squad",
        description="stall gamma",
        category_id=world.categories["city_appearance"],
    )
    red, yellow = await _backdated(world, "red"), await _backdated(world, "yellow")
    everything = {lamp["id"], tree["id"], squad["id"], red, yellow}

    async def ids(headers=agent, **params) -> set[str]:
        r = await client.get("/cases", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["items"]}

    assert await ids() == everything
    assert await ids(status="registered") == {tree["id"]}
    assert await ids(category_id=world.categories["greening"]) == {tree["id"]}
    assert await ids(unit_id=world.units["squad"]) == {squad["id"]}
    assert await ids(grid_id=world.grids["cell_b"]) == {tree["id"]}
    assert await ids(light="red") == {red}
    assert await ids(light="yellow") == {yellow}
    assert await ids(light="green") == everything - {red, yellow}
    assert await ids(q="BETA") == {tree["id"]}
    assert await ids(q=lamp["ticket"]) == {lamp["id"]}
    assert await ids(status="dispatched", light="red") == {red}
    # Scope still applies under filters: worker2 owns cell_b only.
    assert await ids(headers=await login("worker2")) == {tree["id"]}
    assert await ids(headers=await login("worker2"), light="red") == set()

    pages, seen = [], set()
    for offset in (0, 2, 4):
        r = (await client.get("/cases", headers=agent, params={"limit": 2, "offset": offset})).json()
        assert (r["total"], r["offset"], r["limit"]) == (5, offset, 2)
        pages.append([c["id"] for c in r["items"]])
        seen |= set(pages[-1])
    assert [len(p) for p in pages] == [2, 2, 1] and seen == everything


async def test_an_accusation_cannot_be_dispatched_under_the_accused_unit(client, world: World, login):
    agent = await login("agent")
    r = await client.post(
        "/cases",
        headers=agent,
        json={
            "type": "report",
            "description": "The bureau's inspectors take bribes",
            "accused_unit_id": world.units["bureau"],
            "category_id": world.categories["conduct"],
        },
    )
    case = r.json()
    for unit in ("bureau", "squad"):
        r = await client.post(
            f"/cases/{case['id']}/dispatch",
            headers=agent,
            json={"version": case["version"], "payload": {"unit_id": world.units[unit]}},
        )
        assert r.status_code == 422 and r.json()["code"] == "accused_unit", unit
    # Seed 002: a sibling is not above the bureau; the office it answers to is.
    r = await client.post(
        f"/cases/{case['id']}/dispatch",
        headers=agent,
        json={"version": case["version"], "payload": {"unit_id": world.units["street"]}},
    )
    assert r.status_code == 422 and r.json()["code"] == "not_superior_unit"
    r = await client.post(
        f"/cases/{case['id']}/dispatch",
        headers=agent,
        json={
            "version": case["version"],
            "payload": {"unit_id": world.units["office"], "co_unit_ids": [world.units["street"]]},
        },
    )
    assert r.status_code == 200 and r.json()["lead_unit_id"] == world.units["office"]


async def test_linking_a_repeat_gives_a_running_case_the_important_limit(client, world: World, login):
    agent = await login("agent")
    earlier = await new_case(client, agent, world)
    case = await new_case(client, agent, world, dispatch_to="street")
    r = await client.post(
        f"/cases/{case['id']}/link-repeat", headers=agent, json={"repeat_of": earlier["id"]}
    )
    assert r.status_code == 200, r.text
    linked = r.json()
    assert linked["urgency"] == "important" and linked["due_at"] > case["due_at"]
    assert linked["events"][-1]["action"] == "link_repeat"


async def test_the_list_text_is_matched_literally(client, world: World, login):
    agent = await login("agent")
    percent = await new_case(client, agent, world, description="100% of the bins overflow")
    plain = await new_case(client, agent, world, description="bins overflow by the gate_2 door")

    async def ids(q: str) -> set[str]:
        r = await client.get("/cases", headers=agent, params={"q": q})
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["items"]}

    # `%`, `_` and `\` are no wildcards: `q=%` is a search for a percent sign, not every case.
    assert await ids("%") == {percent["id"]}
    assert await ids("0%") == {percent["id"]}
    assert await ids("_") == {plain["id"]}
    assert await ids("\\") == set()
    assert await ids("overflow") == {percent["id"], plain["id"]}


async def test_a_district_admin_supervises_an_open_case(client, world: World, login):
    admin, agent = await login("admin"), await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    body = {"version": case["version"], "payload": {"note": "Overdue twice: report by Friday"}}
    assert (await client.post(f"/cases/{case['id']}/supervise", headers=agent, json=body)).status_code == 403
    r = await client.post(f"/cases/{case['id']}/supervise", headers=admin, json=body)
    assert r.status_code == 200, r.text
    supervised = r.json()
    assert supervised["supervised"] is True and supervised["version"] == case["version"] + 1
    assert supervised["events"][-1]["action"] == "supervise"
    assert supervised["events"][-1]["note"] == "Overdue twice: report by Friday"
    stale = await client.post(f"/cases/{case['id']}/supervise", headers=admin, json=body)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    empty = await client.post(f"/cases/{case['id']}/supervise", headers=admin, json={"payload": {"note": ""}})
    assert empty.status_code == 400


async def test_the_list_refuses_an_offset_out_of_range(client, world: World, login):
    agent = await login("agent")
    for offset in ("-1", "1000001", "99999999999999"):
        r = await client.get("/cases", headers=agent, params={"offset": offset})
        assert r.status_code == 400 and r.json()["field"] == "offset", (offset, r.text)
    assert (await client.get("/cases", headers=agent, params={"offset": "1000000"})).status_code == 200
