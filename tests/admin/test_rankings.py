"""The monthly ranking (DESIGN §8) over HTTP, on a district whose cases went through the real API."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from server.db import fetch
from tests.api.test_transitions_api import act, photo_pair
from tests.support import World, new_case


def this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


async def closed_case(client, world: World, login, unit: str, satisfaction: str, *, extension: bool = False):
    """A complaint in cell_a, dispatched to `unit` and taken by worker1 (its cell) to closed."""
    agent, worker, admin = await login("agent"), await login("worker1"), await login("admin")
    case = await new_case(client, agent, world, dispatch_to=unit, complainant_phone="13812345678")
    case = await act(client, worker, case, "accept")
    if extension:
        case = await act(client, worker, case, "request_extension", {"days": 3, "reason": "parts ordered"})
        case = await act(client, admin, case, "approve_extension", {"approved": True})
    case = await act(client, worker, case, "arrive")
    photos = await photo_pair(world)
    case = await act(client, worker, case, "resolve", {"photo_ids": photos, "note": "fixed"})
    case = await act(client, agent, case, "review", {"approved": True})
    case = await act(client, agent, case, "callback", {"satisfaction": satisfaction})
    return await act(client, agent, case, "close")


async def build_month(client, world: World, login) -> None:
    """street: 5 closed (one extended, one basically satisfied, one unsatisfied), one returned and
    dispatched again, one still open; bureau: a single fast fix. The office: one late dispatch."""
    for satisfaction in ("satisfied", "satisfied", "basically_satisfied", "unsatisfied"):
        await closed_case(client, world, login, "street", satisfaction)
    await closed_case(client, world, login, "street", "satisfied", extension=True)
    await closed_case(client, world, login, "bureau", "satisfied")
    agent, worker = await login("agent"), await login("worker1")
    returned = await new_case(client, agent, world, dispatch_to="street")
    returned = await act(client, worker, returned, "return", {"reason": "not ours"})
    await act(client, agent, returned, "dispatch", {"unit_id": world.units["street"]})
    # Registered a week ago and only dispatched now: a late dispatch, a point off the office.
    late = await new_case(client, agent, world)
    await fetch(
        "UPDATE cases SET registered_at = registered_at - interval '7 days' WHERE id = {}", late["id"]
    )
    await act(client, agent, late, "dispatch", {"unit_id": world.units["street"]})


async def figures_from_log(world: World, unit_id: int) -> dict:
    """The unit's figures recomputed here, straight from case_events, as a reviewer would by hand."""
    rows = await fetch(
        "SELECT e.case_id, e.action, e.data, e.at, c.registered_at, u.unit_id AS actor_unit "
        "FROM case_events e JOIN cases c ON c.id = e.case_id LEFT JOIN app_users u ON u.id = e.actor_id "
        "WHERE e.district_id = {} ORDER BY e.case_id, e.seq",
        world.district_id,
    )
    lead: dict = {}
    got = dict(received=0, closed=0, closed_on_time=0, extensions=0, returns=0, called_back=0, satisfied=0)
    on_time: dict = {}
    for r in rows:
        data = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
        case, action = r["case_id"], r["action"]
        if action == "dispatch":
            lead[case] = data["lead_unit_id"]
            got["received"] += lead[case] == unit_id
        elif action == "return":
            got["returns"] += data["unit_id"] == unit_id
            lead[case] = None
        elif lead.get(case) != unit_id:
            continue
        elif action == "resolve":
            on_time[case] = data["on_time"]
        elif action == "approve_extension":
            got["extensions"] += bool(data["approved"])
        elif action == "callback":
            got["called_back"] += 1
            got["satisfied"] += data["satisfaction"] in ("satisfied", "basically_satisfied")
        elif action == "close":
            got["closed"] += 1
            got["closed_on_time"] += on_time[case]
    return got


async def test_a_ranking_row_matches_the_event_log_and_the_small_unit_is_apart(client, world: World, login):
    await build_month(client, world, login)
    admin = await login("admin")
    r = await client.get("/admin/rankings", headers=admin, params={"month": this_month()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["minimum_closed"] == 5
    ranked = {row["unit_id"]: row for row in body["ranked"]}
    apart = {row["unit_id"]: row for row in body["apart"]}
    street, bureau, office = (world.units[u] for u in ("street", "bureau", "office"))

    # The single fast fix is listed apart, never first; street is the one ranked unit.
    assert list(ranked) == [street] and ranked[street]["rank"] == 1
    assert apart[bureau]["closed"] == 1 and apart[bureau]["on_time_rate"] == 1.0
    assert apart[bureau]["rank"] is None

    row = ranked[street]
    expected = await figures_from_log(world, street)
    for name in ("received", "closed", "closed_on_time", "extensions", "returns", "called_back", "satisfied"):
        assert row[name] == expected[name], name
    assert (row["received"], row["closed"], row["returns"], row["extensions"]) == (8, 5, 1, 1)
    assert row["on_time_rate"] == round(expected["closed_on_time"] / expected["closed"], 4)
    assert row["satisfaction_rate"] == 0.8  # 3 satisfied + 1 basically of 5 called back
    assert row["rework_rate"] == 0.0
    assert row["overdue_now"] == 0
    assert 0 <= row["mean_handling_days"] < 1  # all handled within the hour
    # The office dispatched 9 times (6 closed, the returned one twice, the late one): one late.
    assert (apart[office]["dispatched"], apart[office]["dispatched_on_time"]) == (9, 8)
    assert apart[office]["deductions"] == 1


async def test_the_ranking_sorts_by_a_column_and_keeps_the_small_units_apart(client, world: World, login):
    await build_month(client, world, login)
    admin = await login("admin")
    r = await client.get(
        "/admin/rankings",
        headers=admin,
        params={"month": this_month(), "sort": "closed", "descending": "false"},
    )
    assert r.status_code == 200, r.text
    closed = [row["closed"] for row in r.json()["apart"]]
    assert closed == sorted(closed) and r.json()["ranked"][0]["unit_id"] == world.units["street"]


async def test_the_csv_has_a_bom_and_chinese_headers(client, world: World, login):
    await build_month(client, world, login)
    r = await client.get("/admin/rankings/csv", headers=await login("admin"), params={"month": this_month()})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "排名 rank" and "按时办结率 on-time rate" in rows[0]
    assert rows[1][0] == "1" and rows[1][1] == "Street office"
    assert any("不参与排名" in row[-1] and row[1] == "City management bureau" for row in rows[2:])


async def test_another_month_has_no_closings(client, world: World, login):
    await build_month(client, world, login)
    r = await client.get("/admin/rankings", headers=await login("admin"), params={"month": "2001-01"})
    assert r.status_code == 200, r.text
    assert r.json()["ranked"] == [] and all(row["closed"] == 0 for row in r.json()["apart"])


async def test_rankings_refuse_other_roles_and_bad_months(client, world: World, login):
    r = await client.get("/admin/rankings", headers=await login("worker1"), params={"month": this_month()})
    assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    r = await client.get("/admin/rankings", headers=await login("leader1"), params={"month": this_month()})
    assert r.status_code == 200
    for month in ("2026-13", "26-01", "2026-1\x00", "x" * 5000):
        r = await client.get("/admin/rankings", headers=await login("admin"), params={"month": month})
        assert r.status_code == 400 or r.status_code == 422, (month, r.text)
        assert "code" in r.json()
    r = await client.get("/admin/rankings", params={"month": this_month()})
    assert r.status_code == 401


async def test_the_console_page_and_its_libraries_are_served(client):
    r = await client.get("/admin")
    assert r.status_code == 200 and 'name="username"' in r.text and 'name="password"' in r.text
    for path in ("/admin/lib/leaflet/leaflet.js", "/admin/lib/markercluster/leaflet.markercluster.js"):
        assert (await client.get(path)).status_code == 200, path
