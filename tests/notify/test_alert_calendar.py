"""Loading a year's calendar late moves the next light change of the cases it touches (DESIGN §5):
a deadline across the 2026/2027 boundary, counted on weekends alone until 2027 is loaded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from notify.worker import run_pass
from server.accounts.service import actor_for_user
from server.calendar.service import load_years
from server.calendar.workdays import CalendarYear
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.schemas import CaseCreate, Registration
from server.db import fetch
from tests.notify.test_alerts import alerts

# Monday 28 December 2026, 10:00 Shanghai: five working days end on Monday 4 January 2027 while
# 2027 is unknown (1 January counted as a Friday at work), on Tuesday 5 January once it is a holiday.
DISPATCHED = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
PROVISIONAL_WARN = datetime(2027, 1, 3, 16, 0, tzinfo=UTC)  # Mon 4 Jan 00:00 Shanghai
LOADED_WARN = datetime(2027, 1, 4, 16, 0, tzinfo=UTC)  # Tue 5 Jan 00:00 Shanghai
YEAR_2027 = CalendarYear(
    year=2027, holidays=(date(2027, 1, 1),), workdays=(), source="hand-made for the test"
)


async def test_a_2027_calendar_loaded_late_moves_the_alerts_to_the_new_deadline(client, login, world) -> None:
    agent = await actor_for_user({"id": world.users["agent"]})
    body = CaseCreate(type="complaint", description="路灯不亮", category_id=world.categories["municipal"])
    state = await cases.register(
        body, Registration(district_id=world.district_id, actor=agent, now=DISPATCHED), None
    )
    command = lifecycle.Command(
        action="dispatch", payload=lifecycle.DispatchPayload(unit_id=world.units["bureau"])
    )
    dispatched = await cases.act(state.id, command, agent, now=DISPATCHED)
    assert (dispatched.warn_at, dispatched.due_provisional) == (PROVISIONAL_WARN, True)
    [row] = await fetch("SELECT next_alert_at FROM cases WHERE id = {}", state.id)
    assert row["next_alert_at"] == PROVISIONAL_WARN

    result = await load_years(world.district_id, [YEAR_2027])
    assert result.recomputed_cases == 1
    [row] = await fetch("SELECT next_alert_at, warn_at, due_provisional FROM cases WHERE id = {}", state.id)
    assert (row["next_alert_at"], row["warn_at"], row["due_provisional"]) == (LOADED_WARN, LOADED_WARN, False)

    await run_pass(PROVISIONAL_WARN + timedelta(hours=8))  # Monday morning: no longer the last day
    assert await alerts(client, login, case_id=str(state.id)) == []
    await run_pass(LOADED_WARN + timedelta(hours=8))
    [yellow] = await alerts(client, login, case_id=str(state.id), level="yellow")
    assert yellow["status"] == "sent"
    [text] = [
        r["text"] for r in await fetch("SELECT text FROM outbox_messages WHERE alert_id = {}", yellow["id"])
    ]
    assert "将于2027-01-05 24:00到期" in text and "剩余0.7个工作日" in text  # 16 of its 24 hours left
