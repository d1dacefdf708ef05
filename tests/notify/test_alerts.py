"""The alert worker end to end (DESIGN §5, §12): a fake clock moves across a case's warning instant
and deadline, and the tests read what the outbox, a local apprise receiver and GET /alerts show.

Deadlines fall at local midnight, inside the default quiet hours (22:00–07:00 Asia/Shanghai), so
"+1 h" is a quiet-hours instant and "+8 h" a daytime one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.delivery import DeliveryConfig
from notify.worker import WorkerConfig, run_pass
from server.db import fetch
from server.tables import Unit, User
from tests.notify.receiver import Receiver
from tests.support import new_case

NAME, PHONE = "张三", "13700000001"
LEADER_PHONE, HEAD_PHONE = "13800000001", "13800000002"  # tests.support.build_world's bureau


def instant(value: str, hours: float = 0) -> datetime:
    return datetime.fromisoformat(value) + timedelta(hours=hours)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def dispatched(client, login, world, **fields) -> dict:
    """A named complaint with a phone, dispatched to the bureau (leader in charge and head set)."""
    fields = {"complainant_name": NAME, "complainant_phone": PHONE, "address": "柳树路12号", **fields}
    return await new_case(client, await login("agent"), world, dispatch_to="bureau", **fields)


async def alerts(client, login, **params) -> list[dict]:
    r = await client.get("/alerts", headers=await login("admin"), params=params)
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


async def outbox(client, login, case: dict) -> list[tuple[str, str]]:
    """(to, text) of this case's outbox messages, oldest first."""
    r = await client.get("/outbox", headers=await login("admin"))
    assert r.status_code == 200, r.text
    return [(m["to"], m["text"]) for m in reversed(r.json()["messages"]) if case["ticket"] in m["text"]]


async def test_yellow_then_red_each_once_into_the_outbox_with_quiet_hours(client, login, world) -> None:
    case = await dispatched(client, login, world)
    warn, due = case["warn_at"], case["due_at"]

    await run_pass(instant(warn, 1))  # 01:00: yellow and reminder recorded, held until 07:00
    held = await alerts(client, login, case_id=case["id"])
    assert {(a["level"], a["status"]) for a in held} == {
        ("receipt", "pending"),
        ("yellow", "pending"),
        ("reminder", "pending"),
    }
    assert await outbox(client, login, case) == []

    await run_pass(instant(warn, 8))
    await run_pass(instant(warn, 9))  # a second pass adds nothing
    messages = await outbox(client, login, case)
    assert sorted(to for to, _ in messages) == sorted([PHONE, LEADER_PHONE, f"unit:{world.units['bureau']}"])
    texts = dict(messages)
    assert texts[PHONE].startswith("【Test district") and f"受理编号{case['ticket']}" in texts[PHONE]
    # The receipt tells the lookup code the complainant tracks the case with (/track).
    [code] = await fetch("SELECT lookup_code FROM cases WHERE id = {}", case["id"])
    assert len(code["lookup_code"]) == 8 and f"查询码{code['lookup_code']}" in texts[PHONE]
    assert f"案件{case['ticket']}（市政，柳树路12号）" in texts[LEADER_PHONE]
    assert "剩余1个工作日" in texts[LEADER_PHONE] and "City management bureau承办" in texts[LEADER_PHONE]

    await run_pass(instant(due, 1))  # 01:00 after the deadline: red goes at night, the notice waits
    red = [a for a in await alerts(client, login, case_id=case["id"]) if a["level"] in ("red", "supervision")]
    assert {(a["level"], a["recipient"], a["status"]) for a in red} == {
        ("red", HEAD_PHONE, "sent"),
        ("supervision", f"unit:{world.units['bureau']}", "pending"),
    }
    await run_pass(instant(due, 8))
    await run_pass(instant(due, 30))
    all_alerts = await alerts(client, login, case_id=case["id"])
    assert sorted(a["level"] for a in all_alerts) == ["receipt", "red", "reminder", "supervision", "yellow"]
    assert {a["status"] for a in all_alerts} == {"sent"}
    assert len(await outbox(client, login, case)) == 5

    r = await client.get(f"/cases/{case['id']}", headers=await login("admin"))
    seen = r.json()
    assert seen["supervised"] is True
    events = [e["action"] for e in seen["events"]]
    assert events.count("supervise") == 1 and events.count("remind") == 1
    remind = next(e for e in seen["events"] if e["action"] == "remind")
    assert "City management bureau" in remind["note"]
    assert seen["version"] == case["version"] + 2


async def test_leader_in_charge_who_is_a_user_is_named_by_id(client, login, world) -> None:
    await User.update({User.phone: LEADER_PHONE}).where(User.id == world.users["leader1"])
    case = await dispatched(client, login, world)
    await run_pass(instant(case["warn_at"], 8))
    yellow = await alerts(client, login, case_id=case["id"], level="yellow")
    assert [(a["recipient_user_id"], a["recipient"]) for a in yellow] == [
        (world.users["leader1"], f"user:{world.users['leader1']}")
    ]
    # The unit leader reads their unit's alerts too; a grid worker or an agent may not.
    r = await client.get("/alerts", headers=await login("leader1"), params={"case_id": case["id"]})
    assert r.status_code == 200 and len(r.json()["alerts"]) == 3
    for name in ("worker1", "agent"):
        r = await client.get("/alerts", headers=await login(name))
        assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    r = await client.get("/outbox", headers=await login("leader1"))
    assert r.status_code == 403


async def test_apprise_receiver_that_fails_then_recovers_gets_each_message_once(
    client, login, world, receiver: Receiver
) -> None:
    bureau = world.units["bureau"]
    await Unit.update(
        {
            Unit.leader_notify_url: receiver.url("leader"),
            Unit.head_notify_url: receiver.url("head"),
            Unit.notify_url: receiver.url("bureau"),
        }
    ).where(Unit.id == bureau)
    case = await dispatched(client, login, world, complainant_phone="", complainant_name="")
    warn = case["warn_at"]
    receiver.fail_next = 2
    await run_pass(instant(warn, 8))
    failing = await alerts(client, login, case_id=case["id"])
    assert {a["level"]: (a["status"], a["attempts"]) for a in failing} == {
        "yellow": ("pending", 1),
        "reminder": ("pending", 1),
    }
    assert all(a["error"].startswith("apprise") for a in failing)
    assert receiver.received == []
    await run_pass(instant(warn, 8) + timedelta(minutes=2))  # past the first backoff (≤ 45 s)
    done = await alerts(client, login, case_id=case["id"])
    assert {a["level"]: (a["status"], a["attempts"], a["channel"]) for a in done} == {
        "yellow": ("sent", 2, "webhook"),
        "reminder": ("sent", 2, "webhook"),
    }
    assert receiver.paths() == ["/bureau", "/leader"]
    assert f"案件{case['ticket']}" in dict(receiver.received)["/leader"]
    await run_pass(instant(case["due_at"], 8))
    assert receiver.paths() == ["/bureau", "/bureau", "/head", "/leader"]


async def test_a_receiver_that_never_recovers_ends_failed_with_the_reason(
    client, login, world, receiver: Receiver
) -> None:
    await Unit.update({Unit.head_notify_url: receiver.url("head")}).where(Unit.id == world.units["bureau"])
    case = await dispatched(client, login, world)
    receiver.fail_next = 100
    config = WorkerConfig(delivery=DeliveryConfig(max_attempts=3, retry_seconds=10))
    at = instant(case["due_at"], 1)
    for minutes in range(0, 60, 5):
        await run_pass(at + timedelta(minutes=minutes), config)
    red = await alerts(client, login, case_id=case["id"], level="red")
    assert [(a["status"], a["attempts"]) for a in red] == [("failed", 3)]
    assert "apprise" in red[0]["error"]
    assert len(receiver.refused) == 3
    # The receiver is fixed; an admin retries the failed alert, and the next pass delivers it once.
    admin, agent = await login("admin"), await login("agent")
    assert (await client.post(f"/alerts/{red[0]['id']}/retry", headers=agent)).status_code == 403
    receiver.fail_next = 0
    assert (await client.post(f"/alerts/{red[0]['id']}/retry", headers=admin)).status_code == 204
    await run_pass(at + timedelta(minutes=61), config)
    again = await alerts(client, login, case_id=case["id"], level="red")
    assert [(a["status"], a["attempts"]) for a in again] == [("sent", 1)]
    assert sum(1 for path, _ in receiver.received if path == "/head") == 1
    # A sent alert is not failed: retrying it changes nothing.
    r = await client.post(f"/alerts/{red[0]['id']}/retry", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "alert_not_failed"


async def test_three_workers_at_once_send_no_duplicate(client, login, world, receiver: Receiver) -> None:
    await Unit.update({Unit.leader_notify_url: receiver.url("leader")}).where(
        Unit.id == world.units["bureau"]
    )
    created = [await dispatched(client, login, world, complainant_phone="") for _ in range(12)]
    at = max(instant(c["warn_at"], 8) for c in created)
    results = await asyncio.gather(*(run_pass(at) for _ in range(3)))
    assert sum(r.sent for r in results) >= 24
    tickets = sorted(t for _, t in receiver.received)
    assert len(tickets) == len(set(tickets)) == 12
    rows = await fetch(
        "SELECT count(*) AS n FROM outbox_messages o JOIN alerts a ON a.id = o.alert_id "
        "WHERE a.case_id = ANY({}::uuid[])",
        [c["id"] for c in created],
    )
    assert rows[0]["n"] == 12  # the unit's reminders, one per case


async def test_an_extension_gives_the_new_deadline_its_own_alerts_and_drops_the_old(
    client, login, world
) -> None:
    case = await dispatched(client, login, world)
    await run_pass(instant(case["warn_at"], 1))  # the yellow is recorded, held by quiet hours
    leader = await login("leader1")
    for action, payload in (
        ("request_extension", {"days": 3, "reason": "需协调供电部门"}),
        ("approve_extension", {"approved": True}),
    ):
        r = await client.post(
            f"/cases/{case['id']}/{action.replace('_', '-')}", headers=leader, json={"payload": payload}
        )
        assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["due_at"] > case["due_at"]
    await run_pass(instant(case["warn_at"], 8))
    old = await alerts(client, login, case_id=case["id"], level="yellow")
    assert [(a["status"]) for a in old] == ["dropped"]
    await run_pass(instant(moved["warn_at"], 8))
    yellows = await alerts(client, login, case_id=case["id"], level="yellow")
    assert sorted(a["status"] for a in yellows) == ["dropped", "sent"]


async def test_never_anything_about_an_accusation_to_the_accused(client, login, world) -> None:
    # The accused grid worker is also listed as the office's leader in charge (a record out of date);
    # the office, above the accused street office, leads the accusation.
    await Unit.update({Unit.leader_phone: "13900000000", Unit.head_phone: "13800000009"}).where(
        Unit.id == world.units["office"]
    )
    fields = {"complainant_name": NAME, "complainant_phone": PHONE, "address": "柳树路12号"}
    case = await new_case(
        client,
        await login("agent"),
        world,
        dispatch_to="office",
        type="report",
        accused_user_id=world.users["worker1"],
        accused_unit_id=world.units["street"],
        **fields,
    )
    await run_pass(instant(case["warn_at"], 8))
    await run_pass(instant(case["due_at"], 8))
    sent = await alerts(client, login, case_id=case["id"])
    assert "yellow" not in {a["level"] for a in sent}
    assert "13900000000" not in {a["recipient"] for a in sent}
    assert {"red", "supervision", "reminder", "receipt"} <= {a["level"] for a in sent}


async def test_bad_query_parameters_get_a_clear_4xx(client, login, world) -> None:
    admin = await login("admin")
    for params in ({"level": "purple"}, {"status": "maybe"}, {"case_id": "not-a-uuid"}, {"limit": "0"}):
        r = await client.get("/alerts", headers=admin, params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["code"] and r.json()["message"]
    r = await client.get("/alerts")
    assert r.status_code == 401


async def test_a_refused_case_closes_with_a_refusal_not_a_done(client, login, world) -> None:
    agent = await login("agent")
    case = await new_case(client, agent, world, complainant_name=NAME, complainant_phone=PHONE)
    r = await client.post(
        f"/cases/{case['id']}/refuse",
        headers=agent,
        json={"version": case["version"], "payload": {"reason": "不属于本区受理范围"}},
    )
    assert r.status_code == 200, r.text
    # Tomorrow 10:00 in Shanghai: after the closing, outside the quiet hours whenever the test runs.
    tomorrow = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).replace(hour=10)
    await run_pass(tomorrow)
    texts = [text for to, text in await outbox(client, login, case) if to == PHONE]
    assert any("不予受理" in t for t in texts), texts
    assert not any("已办结" in t for t in texts)
