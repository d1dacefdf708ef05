"""Time limits, deadlines, extensions and lights on the shipped China calendars.

Deadlines are ends of days, written `end_of(y, m, d)` = local midnight after that day (Shanghai).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.calendar.deadlines import (
    Deadline,
    TimeLimits,
    extend,
    extension_allowed,
    handling_days,
    plan_deadline,
    plan_hours,
)
from server.calendar.lights import light
from server.calendar.workdays import Calendar, CalendarYear, builtin_calendar_dir, load_calendar_dir

CST = ZoneInfo("Asia/Shanghai")
SHIPPED = load_calendar_dir(builtin_calendar_dir())
CN = Calendar.of(SHIPPED)
LIMITS = TimeLimits()
US = timedelta(microseconds=1)


def cst(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=CST)


def end_of(y: int, m: int, d: int) -> datetime:
    return cst(y, m, d) + timedelta(days=1)


def sure(due_at: datetime, warn_at: datetime, days: int) -> Deadline:
    return Deadline(due_at=due_at, warn_at=warn_at, provisional=False, missing_years=(), days=days)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case_type", "urgency", "category_days", "expected"),
    [
        ("consult", "urgent", 15, 2),  # consult beats urgency and category
        ("complaint", "urgent", 15, 2),  # urgent reply beats important and category
        ("complaint", "important", 15, 7),  # important beats a longer category limit
        ("complaint", "important", None, 7),
        ("complaint", "normal", 15, 15),  # planning category beats the type
        ("help", "normal", 3, 3),
        ("report", "normal", None, 5),  # type limit when no category limit
        ("consult", "normal", None, 2),
    ],
)
def test_handling_days_precedence(
    case_type: str, urgency: str, category_days: int | None, expected: int
) -> None:
    assert handling_days(LIMITS, case_type, urgency, category_days) == expected  # type: ignore[arg-type]


def test_handling_days_uses_district_limits() -> None:
    limits = TimeLimits(
        type_days={"consult": 1, "help": 10, "complaint": 8, "report": 5, "suggestion": 5}, important_days=4
    )
    assert handling_days(limits, "help", "normal", None) == 10
    assert handling_days(limits, "consult", "important", None) == 1
    assert handling_days(limits, "help", "important", None) == 4


def test_time_limits_refuse_bad_configuration() -> None:
    with pytest.raises(ValueError, match="outside 1..10"):
        TimeLimits(type_days={"consult": 2, "help": 11, "complaint": 5, "report": 5, "suggestion": 5})
    with pytest.raises(ValueError, match="exactly the case types"):
        TimeLimits(type_days={"consult": 2})
    with pytest.raises(ValueError, match="warn_days must be >= 1"):
        TimeLimits(warn_days=0)
    with pytest.raises(ValueError, match="category_days"):
        handling_days(LIMITS, "help", "normal", 0)


# --- plan_deadline ------------------------------------------------------------------------------


def test_five_days_over_spring_festival_2026() -> None:
    # Fri 13 Feb: Sat 14 make-up (1), 15–23 off, Tue 24 (2) … Fri 27 (5); yellow on Fri 27.
    assert plan_deadline(CN, LIMITS, cst(2026, 2, 13, 9), 5) == sure(end_of(2026, 2, 27), cst(2026, 2, 27), 5)


def test_warning_window_reaches_back_over_the_holiday() -> None:
    # Fri 13 Feb + 2 ends Tue 24 Feb; a 2-day window is Tue 24 and Sat 14 (make-up).
    limits = TimeLimits(warn_days=2)
    assert plan_deadline(CN, limits, cst(2026, 2, 13, 9), 2) == sure(end_of(2026, 2, 24), cst(2026, 2, 14), 2)


def test_long_limit_warns_three_days_ahead_over_golden_week() -> None:
    # Fri 26 Sep 2025 + 15: Sun 28 (1), 29 (2), 30 (3), [1–8 Oct off], 9 (4), 10 (5), Sat 11 (6),
    # 13–17 (7–11), 20–23 (12–15) → end of Thu 23 Oct; yellow from Tue 21 (21, 22, 23).
    assert plan_deadline(CN, LIMITS, cst(2025, 9, 26, 10), 15) == sure(
        end_of(2025, 10, 23), cst(2025, 10, 21), 15
    )
    # 14 days is below the long limit: end of Wed 22, yellow from Wed 22 only.
    assert plan_deadline(CN, LIMITS, cst(2025, 9, 26, 10), 14) == sure(
        end_of(2025, 10, 22), cst(2025, 10, 22), 14
    )


def test_deadline_in_2027_is_provisional_then_settled_by_its_calendar() -> None:
    # Thu 24 Dec 2026 + 6: Fri 25 (1), 28–31 (2–5), Fri 1 Jan 2027 (6) on weekends alone.
    assert plan_deadline(CN, LIMITS, cst(2026, 12, 24), 6) == Deadline(
        due_at=end_of(2027, 1, 1), warn_at=cst(2027, 1, 1), provisional=True, missing_years=(2027,), days=6
    )
    # With a (synthetic) 2027 calendar making 1 Jan a holiday, the 6th day is Mon 4 Jan.
    y2027 = CalendarYear(year=2027, holidays=(date(2027, 1, 1),), workdays=(), source="test")
    cal = Calendar.of([*SHIPPED, y2027])
    assert plan_deadline(cal, LIMITS, cst(2026, 12, 24), 6) == sure(end_of(2027, 1, 4), cst(2027, 1, 4), 6)


def test_deadline_ending_31_december_is_not_provisional() -> None:
    # Thu 24 Dec 2026 + 5 ends Thu 31 Dec; yellow on the 31st; 2027 is never consulted.
    assert plan_deadline(CN, LIMITS, cst(2026, 12, 24), 5) == sure(end_of(2026, 12, 31), cst(2026, 12, 31), 5)


def test_urgent_hours_ignore_the_calendar() -> None:
    # Registered 10:00 on Mon 16 Feb 2026 (a Spring Festival holiday): on site by 12:00, yellow at 11:30.
    start = cst(2026, 2, 16, 10)
    planned = plan_hours(start, LIMITS.urgent_on_site_hours, LIMITS.urgent_warn_minutes)
    assert planned == sure(cst(2026, 2, 16, 12), cst(2026, 2, 16, 11, 30), 0)
    assert planned.due_at.tzinfo is UTC


# --- lights -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (cst(2026, 2, 27) - US, "green"),  # last microsecond before the warning
        (cst(2026, 2, 27), "yellow"),  # warning instant itself
        (end_of(2026, 2, 27) - US, "yellow"),  # last microsecond of the deadline day
        (end_of(2026, 2, 27), "red"),  # midnight: the day is over
        (end_of(2026, 2, 27) + US, "red"),
    ],
)
def test_light_boundaries(now: datetime, expected: str) -> None:
    assert light(end_of(2026, 2, 27), cst(2026, 2, 27), now) == expected


def test_light_in_utc_matches_local_boundaries() -> None:
    # Warning at Fri 27 Feb 00:00 Shanghai = Thu 26 Feb 16:00 UTC.
    due, warn = end_of(2026, 2, 27), cst(2026, 2, 27)
    assert light(due, warn, datetime(2026, 2, 26, 15, 59, 59, 999999, tzinfo=UTC)) == "green"
    assert light(due, warn, datetime(2026, 2, 26, 16, tzinfo=UTC)) == "yellow"


def test_stopped_clock_keeps_the_light_of_the_resolution() -> None:
    due, warn = end_of(2026, 2, 27), cst(2026, 2, 27)
    later = cst(2026, 3, 10)
    assert light(due, warn, later, stopped_at=cst(2026, 2, 25, 15)) == "green"
    assert light(due, warn, later, stopped_at=cst(2026, 2, 27, 15)) == "yellow"
    assert light(due, warn, later, stopped_at=end_of(2026, 2, 27)) == "red"
    assert light(due, warn, later) == "red"


def test_light_without_deadline_or_warning() -> None:
    assert light(None, None, cst(2026, 3, 10)) == "green"
    assert light(end_of(2026, 2, 27), None, end_of(2026, 2, 27) - US) == "green"
    assert light(end_of(2026, 2, 27), None, end_of(2026, 2, 27)) == "red"


# --- extensions ---------------------------------------------------------------------------------


def test_extension_boundary_two_working_days_before() -> None:
    # Due end of Fri 6 Mar 2026; the last 2 working days are Thu 5 and Fri 6: ask by Thu 00:00.
    due = end_of(2026, 3, 6)
    assert extension_allowed(CN, LIMITS, due, cst(2026, 3, 5) - US)
    assert extension_allowed(CN, LIMITS, due, cst(2026, 3, 5))
    assert not extension_allowed(CN, LIMITS, due, cst(2026, 3, 5) + US)


def test_extension_boundary_across_spring_festival() -> None:
    # Due end of Tue 24 Feb 2026: last 2 working days are Tue 24 and Sat 14 (make-up).
    due = end_of(2026, 2, 24)
    assert extension_allowed(CN, LIMITS, due, cst(2026, 2, 14))
    assert not extension_allowed(CN, LIMITS, due, cst(2026, 2, 14) + US)
    assert not extension_allowed(CN, LIMITS, due, cst(2026, 2, 16, 10))  # during the holiday: too late


def test_extend_from_the_day_the_deadline_closes() -> None:
    # Due end of Mon 2 Mar 2026 (= Tue 00:00) + 1 → end of Tue 3 Mar, not Wed.
    assert extend(CN, LIMITS, end_of(2026, 3, 2), 1) == sure(end_of(2026, 3, 3), cst(2026, 3, 3), 1)


def test_extend_over_spring_festival() -> None:
    # Due end of Fri 13 Feb 2026: +1 → Sat 14 (make-up); +2 → Tue 24.
    assert extend(CN, LIMITS, end_of(2026, 2, 13), 1) == sure(end_of(2026, 2, 14), cst(2026, 2, 14), 1)
    assert extend(CN, LIMITS, end_of(2026, 2, 13), 2) == sure(end_of(2026, 2, 24), cst(2026, 2, 24), 2)


def test_extend_into_2027_is_provisional() -> None:
    # Due end of Thu 31 Dec 2026 + 1 → Fri 1 Jan 2027 on weekends alone.
    assert extend(CN, LIMITS, end_of(2026, 12, 31), 1) == Deadline(
        due_at=end_of(2027, 1, 1), warn_at=cst(2027, 1, 1), provisional=True, missing_years=(2027,), days=1
    )


def test_extend_needs_positive_days() -> None:
    with pytest.raises(ValueError):
        extend(CN, LIMITS, end_of(2026, 3, 2), 0)


# --- timezones ----------------------------------------------------------------------------------


def test_naive_datetimes_refused() -> None:
    naive = datetime(2026, 3, 2, 10)
    aware = cst(2026, 3, 2, 10)
    calls = [
        lambda: plan_deadline(CN, LIMITS, naive, 5),
        lambda: plan_hours(naive, 2, 30),
        lambda: light(aware, aware, naive),
        lambda: light(naive, None, aware),
        lambda: light(aware, naive, aware - US),
        lambda: light(aware, aware, aware, stopped_at=naive),
        lambda: light(aware, aware, naive, stopped_at=aware),
        lambda: extension_allowed(CN, LIMITS, aware, naive),
        lambda: extension_allowed(CN, LIMITS, naive, aware),
        lambda: extend(CN, LIMITS, naive, 1),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
