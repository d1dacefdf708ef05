"""A deadline reaching into a year with no official calendar is provisional until the year is loaded."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import msgspec
import pytest

from server.accounts.service import actor_for_user
from server.calendar.workdays import builtin_calendar_dir, load_calendar_dir
from server.cases import lifecycle
from server.cases import service as cases
from server.tables import CalendarYearRow, User
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


async def _stored_years(district_id: int) -> list[tuple]:
    rows = await CalendarYearRow.select().where(CalendarYearRow.district_id == district_id)
    return sorted((r["year"], tuple(r["holidays"]), tuple(r["workdays"]), r["source"]) for r in rows)


@pytest.mark.parametrize(
    "holidays,workdays,field,day",
    [
        (["2027-02-15", "2027-02-16"], ["2027-02-13", "2027-02-16"], "workdays", "2027-02-16"),
        (["2027-10-01", "2028-01-03"], [], "holidays", "2028-01-03"),
    ],
    ids=["a day both off and on", "a day of another year"],
)
async def test_a_contradictory_year_is_refused_naming_the_day(
    client, world: World, login, holidays, workdays, field, day
):
    admin = await login("admin")
    before = await _stored_years(world.district_id)
    year = {"year": 2027, "holidays": holidays, "workdays": workdays, "source": "typo"}
    r = await client.post("/calendars", headers=admin, json=year)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_calendar" and r.json()["field"] == field
    assert day in r.json()["message"]
    assert await _stored_years(world.district_id) == before
    # Case work goes on.
    await new_case(client, await login("agent"), world, dispatch_to="street")


async def test_a_bad_year_stored_before_checks_existed_does_not_stop_case_work(client, world: World, login):
    agent, admin = await login("agent"), await login("admin")
    good = next(cy for cy in load_calendar_dir(builtin_calendar_dir()) if cy.year == 2026)
    # As an older server stored it: a holiday listed as a make-up working day too.
    await CalendarYearRow.update({CalendarYearRow.workdays: [*good.workdays, good.holidays[0]]}).where(
        (CalendarYearRow.district_id == world.district_id) & (CalendarYearRow.year == 2026)
    )
    case = await new_case(client, agent, world, dispatch_to="street")
    # 2026 counts as not loaded: the deadline is flagged, and the console says which year is missing.
    assert case["due_provisional"] is True
    r = await client.get("/calendars", headers=admin)
    assert 2026 in r.json()["missing_years"] and 2026 not in r.json()["loaded_years"]
    r = await client.post(
        f"/cases/{case['id']}/note", headers=agent, json={"payload": {"text": "still works"}}
    )
    assert r.status_code == 200, r.text
    # Replacing the year settles the deadline.
    r = await client.post("/calendars", headers=admin, json=msgspec.to_builtins(good))
    assert r.status_code == 200 and r.json()["recomputed_cases"] >= 1, r.text
    r = await client.get(f"/cases/{case['id']}", headers=agent)
    assert r.json()["due_provisional"] is False


async def test_concurrent_loads_of_one_year_all_succeed_and_store_it_once(client, world: World, login):
    admin = await login("admin")
    years = [
        {"year": 2027, "holidays": [f"2027-01-0{i}"], "workdays": [], "source": f"load {i}"}
        for i in range(1, 7)
    ]
    answers = await asyncio.gather(*(client.post("/calendars", headers=admin, json=y) for y in years))
    assert [r.status_code for r in answers] == [200] * len(years), [r.text for r in answers]
    stored = [y for y in await _stored_years(world.district_id) if y[0] == 2027]
    assert len(stored) == 1 and stored[0][3] in {y["source"] for y in years}
