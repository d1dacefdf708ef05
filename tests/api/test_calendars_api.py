"""A deadline reaching into a year with no official calendar is provisional until the year is loaded."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from server.accounts.service import actor_for_user
from server.cases import lifecycle
from server.cases import service as cases
from server.tables import User
from tests.support import World, new_case


async def test_loading_a_missing_year_recomputes_provisional_deadlines(client, world: World, login):
    agent, admin = await login("agent"), await login("admin")
    case = await new_case(client, agent, world, category_id=world.categories["planning"])
    user = await User.select().where(User.id == world.users["agent"]).first()
    dispatch = lifecycle.Command(
        action="dispatch", payload=lifecycle.DispatchPayload(unit_id=world.units["street"])
    )
    # 15 working days from Mon 2026-12-21 run into 2027, whose schedule is not published yet.
    await cases.act(
        uuid.UUID(case["id"]),
        dispatch,
        await actor_for_user(user),
        now=datetime(2026, 12, 21, 2, 0, tzinfo=UTC),
    )
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    provisional = r.json()
    assert provisional["due_provisional"] is True
    # Weekends only: 8 working days from 22 to 31 December, then 7 in January.
    assert provisional["due_at"].startswith("2027-01-11T16:00:00")  # end of Mon 11 Jan, Beijing time

    r = await client.get("/calendars", headers=admin)
    status = r.json()
    assert 2027 not in status["loaded_years"] and status["missing_years"] == [2027]
    assert status["provisional_cases"] == 1

    year = {
        "year": 2027,
        "holidays": [str(date(2027, 1, 1)), str(date(2027, 1, 4))],
        "workdays": [],
        "source": "synthetic test schedule",
    }
    r = await client.post("/calendars", headers=agent, json=year)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    r = await client.post("/calendars", headers=admin, json=year)
    assert r.status_code == 200, r.text
    assert r.json() == {"years": [2027], "recomputed_cases": 1}
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    final = r.json()
    # Two January holidays push the end two working days later, to Wed 13 Jan.
    assert final["due_provisional"] is False and final["due_at"].startswith("2027-01-13T16:00:00")
    assert final["version"] == provisional["version"] + 1 and final["events"][-1]["action"] == "replan"
    r = await client.get("/calendars", headers=admin)
    assert r.json()["missing_years"] == [] and r.json()["provisional_cases"] == 0
