"""Tracking and rating at /track as a complainant would (issue 15 items 6 and 7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from server.tables import Case
from tests.api.test_transitions_api import act, resolved_case
from tests.citizens.conftest import PER_CLIENT, PER_TICKET, client_address
from tests.support import World, new_case

PHONE = "138-1234-5678"
NAME = "Zhang Sanfeng"


async def lookup_code(case_id: str) -> str:
    row = await Case.raw("SELECT lookup_code FROM cases WHERE id = {}", case_id)
    return str(row[0]["lookup_code"])


def assert_private(text: str) -> None:
    """Nothing a complainant's neighbour, the accused or a stranger should read."""
    for secret in (NAME, "Zhang", "1234-5678", "12345678", "Agent", "Worker1", "bins emptied", "internal"):
        assert secret not in text, secret


async def reviewed_case(client, world: World, login) -> dict:
    case = await resolved_case(client, world, login, complainant_phone=PHONE, complainant_name=NAME)
    agent = await login("agent")
    await act(
        client,
        agent,
        {"id": case["id"], "version": case["version"]},
        "note",
        {"text": "internal: caller is rude"},
    )
    case = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    return await act(client, agent, case, "review", {"approved": True})


async def test_ticket_and_code_show_status_public_timeline_unit_and_deadline(
    client, public, world, login, district_code
):
    agent = await login("agent")
    case = await new_case(
        client, agent, world, dispatch_to="street", complainant_phone=PHONE, complainant_name=NAME
    )
    code = await lookup_code(case["id"])
    assert len(code) == 8 and code.isdigit()
    # Staff views never carry the code: the complainant gets it on the receipt.
    assert code not in (await client.get(f"/cases/{case['id']}", headers=agent)).text
    await act(client, agent, case, "note", {"text": "internal: Zhang rang twice"})
    r = await public.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert (body["ticket"], body["status"], body["unit"]) == (case["ticket"], "dispatched", "Street office")
    assert body["due_at"] is not None and body["due_at"][:16] == case["due_at"][:16]
    assert [s["step"] for s in body["timeline"]] == ["register", "dispatch"]
    assert body["result"] is None and body["can_rate"] is False
    assert_private(r.text)
    # The last four digits of the phone open it too.
    r = await public.get(
        f"/track/{case['ticket']}", params={"phone_last4": "5678", "district": district_code}
    )
    assert r.status_code == 200 and r.json()["ticket"] == case["ticket"]


async def test_a_wrong_code_says_nothing_about_whether_the_ticket_exists(
    client, public, world, login, district_code
):
    agent = await login("agent")
    case = await new_case(client, agent, world, complainant_phone=PHONE, complainant_name=NAME)
    code = await lookup_code(case["id"])
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    existing = await public.get(f"/track/{case['ticket']}", params={"code": wrong, "district": district_code})
    missing = await public.get("/track/1999-999999", params={"code": wrong, "district": district_code})
    last4 = await public.get(
        f"/track/{case['ticket']}", params={"phone_last4": "0000", "district": district_code}
    )
    assert existing.status_code == missing.status_code == last4.status_code == 404
    assert existing.json() == missing.json() == last4.json()
    assert existing.json()["code"] == "not_found"


async def test_bad_tracking_input_is_a_clear_422(public, district_code):
    for path, params, code in [
        ("/track/2026-1", {"code": "12345678"}, "invalid_ticket"),
        ("/track/2026-000001", {}, "invalid_credentials"),
        ("/track/2026-000001", {"code": "12345678", "phone_last4": "1234"}, "invalid_credentials"),
        ("/track/2026-000001", {"code": "abc"}, "invalid_credentials"),
        ("/track/2026-000001", {"code": "1234\x00678"}, "invalid_credentials"),
    ]:
        r = await public.get(path, params={**params, "district": district_code})
        assert 400 <= r.status_code < 500, (path, params, r.text)
        assert r.json()["code"] == code, r.text
        assert r.json()["message"]


async def test_an_accusation_is_never_tracked(client, public, world, login, district_code):
    agent = await login("agent")
    case = await new_case(
        client, agent, world, type="report", accused_unit_id=world.units["street"], complainant_phone=PHONE
    )
    code = await lookup_code(case["id"])
    r = await public.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_guessing_is_limited_per_client(public, district_code):
    answers = [
        (
            await public.get("/track/2026-000001", params={"code": f"{n:08d}", "district": district_code})
        ).status_code
        for n in range(PER_CLIENT + 1)
    ]
    if datetime.now(UTC).second > 1:  # not split by a minute's boundary
        assert answers[-1] == 429
    assert set(answers[:PER_CLIENT]) <= {404, 429}


async def test_guessing_is_limited_per_ticket_across_clients(
    client, citizens_app, world, login, district_code
):
    import httpx

    agent = await login("agent")
    case = await new_case(client, agent, world, complainant_phone=PHONE, complainant_name=NAME)
    code = await lookup_code(case["id"])
    while datetime.now(UTC).second > 45:
        await asyncio.sleep(1)
    statuses = []
    for n in range(PER_TICKET + 1):
        transport = httpx.ASGITransport(app=citizens_app, client=(client_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
            guess = await c.get(
                f"/track/{case['ticket']}", params={"code": f"{n:08d}", "district": district_code}
            )
            statuses.append(guess.status_code)
    assert statuses == [404] * PER_TICKET + [429]
    # Even the right code waits now: the limit cannot be used to confirm a guess.
    transport = httpx.ASGITransport(app=citizens_app, client=(client_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
        r = await c.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert r.headers.get("retry-after")


async def test_a_rating_is_the_callback_and_an_unsatisfied_one_allows_rework(
    client, public, world, login, district_code
):
    agent = await login("agent")
    case = await reviewed_case(client, world, login)
    code = await lookup_code(case["id"])
    r = await public.get(f"/track/{case['ticket']}", params={"code": code, "district": district_code})
    body = r.json()
    assert body["can_rate"] is True and body["result"]["outcome"] == "resolved"
    assert [s["step"] for s in body["timeline"]] == [
        "register",
        "dispatch",
        "accept",
        "arrive",
        "resolve",
        "review",
    ]
    assert_private(r.text)
    rating = {"code": code, "satisfaction": "unsatisfied", "solved": False, "comment": "still dark at night"}
    r = await public.post(f"/track/{case['ticket']}/rating", params={"district": district_code}, json=rating)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["satisfaction"], r.json()["can_rate"]) == (
        "called_back",
        "unsatisfied",
        False,
    )
    seen = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    callback = seen["events"][-1]
    # Exactly a phone callback, recorded with no member of staff.
    assert (callback["action"], callback["actor_id"], callback["data"]["unit_at_fault"]) == (
        "callback",
        None,
        True,
    )
    assert "still dark at night" in callback["note"]
    again = await public.post(
        f"/track/{case['ticket']}/rating", params={"district": district_code}, json=rating
    )
    assert again.status_code == 409 and again.json()["code"] == "already_rated"
    reopened = await act(client, agent, seen, "reopen")
    assert (reopened["status"], reopened["rework_count"]) == ("dispatched", 1)


async def test_a_satisfied_rating_lets_the_office_close(client, public, world, login, district_code):
    agent = await login("agent")
    case = await reviewed_case(client, world, login)
    rating = {"phone_last4": "5678", "satisfaction": "basically_satisfied", "solved": True}
    r = await public.post(f"/track/{case['ticket']}/rating", params={"district": district_code}, json=rating)
    assert r.status_code == 200, r.text
    seen = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
    assert seen["satisfaction"] == "basically_satisfied"
    closed = await act(client, agent, seen, "close")
    assert closed["status"] == "closed"


async def test_a_rating_before_review_or_with_a_wrong_code_is_refused(
    client, public, world, login, district_code
):
    case = await resolved_case(client, world, login, complainant_phone=PHONE, complainant_name=NAME)
    code = await lookup_code(case["id"])
    rating = {"code": code, "satisfaction": "satisfied", "solved": True}
    r = await public.post(f"/track/{case['ticket']}/rating", params={"district": district_code}, json=rating)
    assert r.status_code == 409 and r.json()["code"] == "not_ratable"
    wrong = {**rating, "code": f"{(int(code) + 7) % 10**8:08d}"}
    r = await public.post(f"/track/{case['ticket']}/rating", params={"district": district_code}, json=wrong)
    assert r.status_code == 404
    for bad in (
        {**rating, "satisfaction": "thrilled"},
        {**rating, "comment": "x" * 1001},
        {**rating, "extra": 1},
    ):
        r = await public.post(f"/track/{case['ticket']}/rating", params={"district": district_code}, json=bad)
        assert r.status_code == 400 or r.status_code == 422, r.text
        assert r.json()["code"] and r.json()["message"]
    r = await public.post(
        f"/track/{case['ticket']}/rating",
        params={"district": district_code},
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500


async def test_citizens_ratings_move_the_units_satisfaction_figure_in_the_ranking(
    client, public, world, login, district_code
):
    """Ratings at /track count in the console's ranking exactly as phone callbacks do, and an
    unsatisfied one lowers the unit's satisfaction rate."""
    from tests.admin.test_rankings import this_month

    admin, street = await login("admin"), world.units["street"]

    async def street_row() -> dict:
        r = await client.get("/admin/rankings", headers=admin, params={"month": this_month()})
        assert r.status_code == 200, r.text
        body = r.json()
        rows = {row["unit_id"]: row for row in body["ranked"] + body["apart"]}
        return rows.get(street, {"called_back": 0, "satisfied": 0, "satisfaction_rate": None, "rank": None})

    before = await street_row()
    assert before["called_back"] == 0
    for n, satisfaction in enumerate(
        ("satisfied", "basically_satisfied", "satisfied", "satisfied", "unsatisfied")
    ):
        case = await reviewed_case(client, world, login)
        rating = {"code": await lookup_code(case["id"]), "satisfaction": satisfaction, "solved": n < 4}
        r = await public.post(
            f"/track/{case['ticket']}/rating", params={"district": district_code}, json=rating
        )
        assert r.status_code == 200, r.text
        if satisfaction != "unsatisfied":
            agent = await login("agent")
            seen = (await client.get(f"/cases/{case['id']}", headers=agent)).json()
            assert (await act(client, agent, seen, "close"))["status"] == "closed"
        if n == 3:
            row = await street_row()
            assert (row["called_back"], row["satisfied"], row["satisfaction_rate"]) == (4, 4, 1.0)
    row = await street_row()
    assert (row["called_back"], row["satisfied"], row["satisfaction_rate"]) == (5, 4, 0.8)
