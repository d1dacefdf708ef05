"""One problem, one case (issue 15 item 4): a further complainant's report joins the open case the
repeat rule matches; each complainant gets the receipt and the closing SMS, tracks and rates it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from notify.worker import run_pass
from server.db import fetch
from tests.api.test_transitions_api import act, photo_pair
from tests.notify.receiver import Receiver
from tests.support import CELL_POINTS, World, new_case

FIRST = ("Zhang Sanfeng", "13712345601")
SECOND = ("Li Xiaolong", "13912345602")


@pytest.fixture
def receiver(world: World) -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def sms_to(receiver: Receiver, world: World) -> None:
    """The district's SMS gateway is the local receiver, day and night."""
    config = {"sms_url": receiver.url("sms/{phone}"), "quiet_start": "00:00", "quiet_end": "00:00"}
    await fetch(
        "UPDATE districts SET notify = {}::jsonb WHERE id = {}", json.dumps(config), world.district_id
    )


def joined_report(cell: str = "cell_a", **fields) -> dict:
    lat, lon = CELL_POINTS[cell]
    return {
        "channel": "wechat",
        "description": "The street light by the school is still out",
        "lat": lat + 0.0001,
        "lon": lon,
        "complainant_name": SECOND[0],
        "complainant_phone": SECOND[1],
        **fields,
    }


async def join(client, headers, case_id: str, body: dict):
    return await client.post(f"/cases/{case_id}/complainants", headers=headers, json=body)


def texts_to(receiver: Receiver, phone: str) -> list[str]:
    return [message for path, message in receiver.received if path.endswith(phone)]


async def code_of(case_id: str, phone: str) -> str:
    rows = await fetch(
        "SELECT lookup_code FROM case_complainants WHERE case_id = {} AND phone = {}", case_id, phone
    )
    return str(rows[0]["lookup_code"])


async def test_a_joined_report_gives_one_case_two_complainants_each_told_tracking_and_rating(
    client, world: World, login, district_code, receiver
):
    public = client  # the app's own tracking limits: this test tracks one ticket many times
    await sms_to(receiver, world)
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(
        client, agent, world, dispatch_to="street", complainant_name=FIRST[0], complainant_phone=FIRST[1]
    )
    before = (await fetch("SELECT count(*) AS n FROM cases WHERE district_id = {}", world.district_id))[0][
        "n"
    ]
    r = await join(client, agent, case["id"], joined_report())
    assert r.status_code == 201, r.text
    joined = r.json()
    assert (joined["ticket"], joined["complainants"]) == (case["ticket"], 2)
    assert "lookup_code" not in r.text  # the complainant's code is for the receipt only
    assert joined["case"]["events"][-1]["action"] == "join"
    after = (await fetch("SELECT count(*) AS n FROM cases WHERE district_id = {}", world.district_id))[0]["n"]
    assert after == before  # one problem, one case
    listed = (await client.get(f"/cases/{case['id']}/complainants", headers=agent)).json()
    assert [(c["first"], c["name"], c["phone"], c["channel"]) for c in listed] == [
        (True, FIRST[0], FIRST[1], "phone"),
        (False, SECOND[0], SECOND[1], "wechat"),
    ]
    assert (await client.get(f"/cases/{case['id']}/complainants", headers=worker)).status_code == 403

    # Both receipts arrive, each with the complainant's own lookup code.
    await run_pass(datetime.now(UTC))
    first_code, second_code = await code_of(case["id"], FIRST[1]), await code_of(case["id"], SECOND[1])
    assert first_code != second_code
    for phone, code in ((FIRST[1], first_code), (SECOND[1], second_code)):
        [receipt] = texts_to(receiver, phone)
        assert f"受理编号{case['ticket']}" in receipt and f"查询码{code}" in receipt
    await run_pass(datetime.now(UTC) + timedelta(minutes=1))
    assert len(receiver.received) == 2  # none twice

    # Each tracks it with their own code; the public timeline says another report joined, not who.
    for code in (first_code, second_code):
        r = await public.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
        assert r.status_code == 200, r.text
        assert "join" in [s["step"] for s in r.json()["timeline"]]
        for secret in (*FIRST, *SECOND, "Zhang", "Li Xiao", "5601", "5602"):
            assert secret not in r.text
    r = await public.get(
        f"/track/{case['ticket']}", params={"phone_last4": "5602", "district": district_code}
    )
    assert r.status_code == 200

    # Handled once; the second complainant rates first (the callback), then the first one.
    case = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    case = await act(client, worker, case, "accept")
    case = await act(client, worker, case, "arrive")
    case = await act(client, worker, case, "resolve", {"photo_ids": await photo_pair(world), "note": "fixed"})
    case = await act(client, agent, case, "review", {"approved": True})
    ratings = (
        (second_code, {"satisfaction": "basically_satisfied", "solved": True, "comment": "took a while"}),
        (first_code, {"satisfaction": "unsatisfied", "solved": False, "comment": "flickers at night"}),
    )
    for code, rating in ratings:
        r = await public.post(
            f"/track/{case['ticket']}/rating",
            params={"district": district_code},
            json={"code": code, **rating},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["satisfaction"], r.json()["can_rate"]) == (rating["satisfaction"], False)
        again = await public.post(
            f"/track/{case['ticket']}/rating",
            params={"district": district_code},
            json={"code": code, **rating},
        )
        assert again.status_code == 409 and again.json()["code"] == "already_rated"
    seen = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    assert (seen["status"], seen["satisfaction"]) == ("called_back", "basically_satisfied")
    rating_event = seen["events"][-1]
    assert (rating_event["action"], rating_event["data"]["satisfaction"]) == ("rating", "unsatisfied")
    assert "flickers at night" in rating_event["note"]
    listed = (await client.get(f"/cases/{case['id']}/complainants", headers=agent)).json()
    assert [c["satisfaction"] for c in listed] == ["unsatisfied", "basically_satisfied"]

    # In the month's ranking both ratings count for the street unit, and the join as a repeat.
    from tests.admin.test_rankings import this_month

    ranking = (
        await client.get("/admin/rankings", headers=await login("admin"), params={"month": this_month()})
    ).json()
    row = next(r for r in ranking["ranked"] + ranking["apart"] if r["unit_id"] == world.units["street"])
    assert (row["called_back"], row["satisfied"], row["repeats"]) == (2, 1, 1)

    # Both are told it closed.
    await act(client, agent, seen, "close")
    await run_pass(datetime.now(UTC) + timedelta(minutes=2))
    for phone in (FIRST[1], SECOND[1]):
        assert any("已办结" in t and case["ticket"] in t for t in texts_to(receiver, phone)), phone


async def test_only_an_open_case_the_report_repeats_is_joined(client, world: World, login):
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(client, agent, world, dispatch_to="street", complainant_phone=FIRST[1])
    # Far away, and no same caller: not the same problem.
    r = await join(client, agent, case["id"], joined_report(cell="cell_b"))
    assert r.status_code == 422 and r.json()["code"] == "not_a_repeat", r.text
    # The same caller at the same typed address is the same problem, even without a point.
    address = {"address": "柳树路12号"}
    case2 = await new_case(client, agent, world, complainant_phone=FIRST[1], **address)
    same_caller = joined_report(lat=None, lon=None, complainant_phone=FIRST[1], **address)
    assert (await join(client, agent, case2["id"], same_caller)).status_code == 201
    # Only intake staff join; an unknown case is the same 404 as one out of scope.
    assert (await join(client, worker, case["id"], joined_report())).status_code == 403
    r = await join(client, agent, "00000000-0000-0000-0000-000000000000", joined_report())
    assert r.status_code == 404 and r.json()["code"] == "case_not_found"
    for bad in (
        {"description": ""},
        {"channel": "pigeon"},
        {"lat": 91},
        {"extra": 1},
        {"complainant_phone": "x"},
    ):
        r = await join(client, agent, case["id"], joined_report(**bad))
        assert 400 <= r.status_code < 500 and r.json()["code"], (bad, r.text)
    # A closed case takes a new report instead.
    fresh = await new_case(client, agent, world)
    refused = await act(client, agent, fresh, "refuse", {"reason": "outside the remit"})
    r = await join(client, agent, refused["id"], joined_report())
    assert r.status_code == 409 and r.json()["code"] == "case_not_open"
    assert (await fetch("SELECT count(*) AS n FROM case_complainants WHERE case_id = {}", case["id"]))[0][
        "n"
    ] == 0


async def test_an_accusation_is_never_joined(client, world: World, login):
    agent = await login("agent")
    accusation = await new_case(
        client, agent, world, type="report", accused_unit_id=world.units["street"], dispatch_to="office"
    )
    r = await join(client, agent, accusation["id"], joined_report())
    assert r.status_code == 422 and r.json()["code"] == "accusation_join", r.text


async def test_a_web_report_of_the_same_problem_is_merged_and_its_complainant_follows_the_case(
    client, world: World, login, district_code, receiver
):
    """A report that arrived on its own (here from /report) is merged into the earlier open case:
    it closes as merged, and its complainant follows that case with the code of their receipt."""
    await sms_to(receiver, world)
    agent = await login("agent")
    case = await new_case(
        client, agent, world, dispatch_to="street", complainant_name=FIRST[0], complainant_phone=FIRST[1]
    )
    lat, lon = CELL_POINTS["cell_a"]
    web = {
        "category_id": world.categories["municipal"],
        "description": "Light out by the school",
        "lat": lat,
        "lon": lon + 0.0001,
        "name": SECOND[0],
        "phone": SECOND[1],
    }
    r = await client.post("/report", params={"district": district_code}, json=web)
    assert r.status_code == 201, r.text
    receipt = r.json()
    listed = (await client.get("/cases", headers=agent, params={"q": receipt["ticket"]})).json()["items"]
    web_case = (await client.get(f"/cases/{listed[0]['id']}", headers=agent)).json()

    # Not into itself, not into a later case, not with a stale version.
    r = await client.post(f"/cases/{web_case['id']}/merge", headers=agent, json={"into": web_case["id"]})
    assert r.status_code == 422 and r.json()["code"] == "self_merge"
    r = await client.post(f"/cases/{case['id']}/merge", headers=agent, json={"into": web_case["id"]})
    assert r.status_code == 422 and r.json()["code"] == "not_earlier"
    r = await client.post(
        f"/cases/{web_case['id']}/merge", headers=agent, json={"into": case["id"], "version": 99}
    )
    assert r.status_code == 409 and r.json()["code"] == "stale_version"

    r = await client.post(
        f"/cases/{web_case['id']}/merge",
        headers=agent,
        json={"into": case["id"], "version": web_case["version"]},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["ticket"], r.json()["complainants"]) == (case["ticket"], 2)
    merged = (await client.get(f"/cases/{web_case['id']}", headers=agent)).json()
    assert (merged["status"], merged["lead_unit_id"]) == ("closed", None)
    assert merged["events"][-1]["action"] == "merge"

    # The receipt's code now opens the case it joined, and its own ticket says where it went.
    code = receipt["lookup_code"]
    own = await client.get(f"/track/{receipt['ticket']}", params={"code": code, "district": district_code})
    assert own.json()["result"]["outcome"] == "merged" and own.json()["result"]["text"] == case["ticket"]
    joined = await client.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
    assert joined.status_code == 200 and joined.json()["status"] == "dispatched"
    for text in (own.text, joined.text):
        for secret in (*FIRST, *SECOND):
            assert secret not in text

    await run_pass(datetime.now(UTC))
    told = texts_to(receiver, SECOND[1])
    assert any(f"受理编号{case['ticket']}" in t and f"查询码{code}" in t for t in told), told
    assert any("合并办理" in t and case["ticket"] in t and receipt["ticket"] in t for t in told), told
    # A dispatched case is handled on its own: it is not merged.
    other = await new_case(client, agent, world, dispatch_to="street")
    r = await client.post(f"/cases/{other['id']}/merge", headers=agent, json={"into": case["id"]})
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
