"""Refusal, referral, abusive marks, the /report page's endpoint and the one ticket sequence (issue 15)."""

from __future__ import annotations

import asyncio

from server.db import fetch
from tests.api.test_transitions_api import act
from tests.support import CELL_POINTS, World, new_case, patrol_report


async def test_a_refusal_is_recorded_with_its_reason_and_the_complainant_sees_it(
    client, public, world, login, district_code
):
    agent, worker = await login("agent"), await login("worker1")
    case = await new_case(client, agent, world, complainant_phone="13812345678", complainant_name="Li Si")
    r = await client.post(f"/cases/{case['id']}/refuse", headers=agent, json={"payload": {"reason": "  "}})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await client.post(f"/cases/{case['id']}/refuse", headers=worker, json={"payload": {"reason": "x"}})
    assert r.status_code in (403, 404)
    refused = await act(
        client, agent, case, "refuse", {"reason": "a contract dispute between neighbours: the courts decide"}
    )
    assert (refused["status"], refused["lead_unit_id"]) == ("closed", None)
    r = await public.get(
        f"/track/{case['ticket']}", params={"phone_last4": "5678", "district": district_code}
    )
    assert r.json()["result"] == {
        "outcome": "refused",
        "at": r.json()["closed_at"],
        "text": "a contract dispute between neighbours: the courts decide",
    }
    figures = (await client.get("/complainants/figures", headers=agent)).json()
    assert figures["refused"] == 1 and figures["referred"] == 0


async def test_an_emergency_is_referred_and_never_dispatched(client, world, login):
    agent = await login("agent")
    case = await new_case(client, agent, world)
    r = await client.post(f"/cases/{case['id']}/refer", headers=agent, json={"payload": {"to": "999"}})
    assert r.status_code == 400 or r.status_code == 422
    referred = await act(client, agent, case, "refer", {"to": "119", "number": "F-77"})
    assert (referred["status"], referred["due_at"]) == ("closed", None)
    assert referred["events"][-1]["data"] == {"to": "119", "number": "F-77"}
    r = await client.post(
        f"/cases/{case['id']}/dispatch", headers=agent, json={"payload": {"unit_id": world.units["street"]}}
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert (await client.get("/complainants/figures", headers=agent)).json()["referred"] == 1


async def test_an_admin_marks_an_abusive_caller_and_intake_sees_it(client, world, login):
    admin, agent, worker = await login("admin"), await login("agent"), await login("worker1")
    mark = {"phone": "13700000000", "reason": "forty calls a day about the same lamp"}
    assert (await client.post("/complainants/marks", headers=agent, json=mark)).status_code == 403
    r = await client.post("/complainants/marks", headers=admin, json=mark)
    assert r.status_code == 201, r.text
    assert (await client.post("/complainants/marks", headers=admin, json=mark)).json()[
        "code"
    ] == "already_marked"
    seen = (await client.get("/complainants/marks", headers=agent, params={"phone": "13700000000"})).json()
    assert [m["reason"] for m in seen] == [mark["reason"]]
    assert (await client.get("/complainants/marks", headers=worker)).status_code == 403
    assert (await client.get("/complainants/figures", headers=agent)).json()["marked_abusive"] == 1
    assert (await client.delete(f"/complainants/marks/{r.json()['id']}", headers=admin)).status_code == 204
    assert (await client.get("/complainants/marks", headers=agent)).json() == []


async def test_a_web_report_is_a_case_on_channel_web_with_a_receipt(
    client, public, world: World, login, district_code
):
    lat, lon = CELL_POINTS["cell_a"]
    categories = (await public.get("/report/categories", params={"district": district_code})).json()
    assert world.categories["municipal"] in {c["id"] for c in categories}
    body = {
        "category_id": world.categories["municipal"],
        "description": "Manhole cover missing",
        "lat": lat,
        "lon": lon,
        "name": "Wang Wu",
        "phone": "13911112222",
    }
    r = await public.post("/report", params={"district": district_code}, json=body)
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert set(receipt) == {"ticket", "lookup_code"}
    tracked = await public.get(
        f"/track/{receipt['ticket']}", params={"code": receipt["lookup_code"], "district": district_code}
    )
    assert tracked.status_code == 200 and "Wang" not in tracked.text and "13911112222" not in tracked.text
    agent = await login("agent")
    listed = (await client.get("/cases", headers=agent, params={"q": receipt["ticket"]})).json()["items"]
    assert [(c["channel"], c["grid_id"]) for c in listed] == [("web", world.grids["cell_a"])]
    for bad in (
        {**body, "category_id": 10**6},
        {**body, "description": ""},
        {**body, "lat": 91},
        {**body, "x": 1},
    ):
        r = await public.post("/report", params={"district": district_code}, json=bad)
        assert 400 <= r.status_code < 500 and r.json()["code"], r.text


async def test_one_ticket_sequence_without_gap_or_repeat_under_concurrent_intake(
    client, citizens_app, world, login, device, district_code
):
    """Every channel at once (agent intake of phone, WeChat, letter and visit cases, web reports,
    Open311 requests, patrol reports pushed from a handheld): consecutive numbers, none twice."""
    import httpx

    from tests.citizens.conftest import client_address

    agent = await login("agent")
    worker, device_id = await device("worker1")
    r = await client.post("/api-keys", headers=await login("admin"), json={"name": "Sequence civic app"})
    assert r.status_code == 201, r.text
    api_key = r.json()["key"]
    lat, lon = CELL_POINTS["cell_a"]

    async def web(n: int) -> str:
        transport = httpx.ASGITransport(app=citizens_app, client=(client_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
            body = {
                "category_id": world.categories["municipal"],
                "description": f"web {n}",
                "lat": lat,
                "lon": lon,
            }
            r = await c.post("/report", params={"district": district_code}, json=body)
            assert r.status_code == 201, r.text
            return str(r.json()["ticket"])

    async def staff(n: int) -> str:
        channel = ("phone", "wechat", "letter", "visit")[n % 4]
        return str(
            (await new_case(client, agent, world, channel=channel, description=f"{channel} {n}"))["ticket"]
        )

    async def open311(n: int) -> str:
        form = {
            "jurisdiction_id": district_code,
            "api_key": api_key,
            "service_code": "city_appearance",
            "lat": str(lat),
            "long": str(lon),
            "description": f"open311 {n}",
        }
        r = await client.post("/open311/v2/requests.json", data=form)
        assert r.status_code == 201, r.text
        return str(r.json()[0]["service_request_id"])

    async def patrol(n: int) -> str:
        body = {"device_id": device_id, "mutations": [patrol_report(lat, lon, f"patrol {n}")]}
        r = await client.post("/sync/push", headers=worker, json=body)
        (result,) = r.json()["results"]
        assert result["status"] == "applied", result
        return str(result["case"]["ticket"])

    makers = (web, staff, open311, patrol)
    tickets = await asyncio.gather(*[make(n) for make in makers for n in range(6)])
    year = {t.split("-")[0] for t in tickets}
    numbers = sorted(int(t.split("-")[1]) for t in tickets)
    assert len(year) == 1 and numbers == list(range(numbers[0], numbers[0] + len(tickets)))
    channels = await fetch(
        "SELECT channel, count(*) AS n FROM cases WHERE district_id = {} AND ticket = ANY({}::text[]) "
        "GROUP BY channel",
        world.district_id,
        list(tickets),
    )
    assert {r["channel"]: r["n"] for r in channels} == {
        "web": 6,
        "open311": 6,
        "patrol": 6,
        "phone": 2,
        "wechat": 2,
        "letter": 1,
        "visit": 1,
    }
