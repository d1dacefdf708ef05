"""Working-day arithmetic against the shipped China calendars and small synthetic ones.

Every expected date is worked out in the comment next to it; weekdays were checked on a wall
calendar (2025-10-01 is a Wednesday, 2026-02-14 a Saturday, 2026-12-31 a Thursday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import pytest

from server.calendar.workdays import (
    Calendar,
    CalendarYear,
    Due,
    add_working_days,
    builtin_calendar_dir,
    export_chinese_calendar_year,
    is_working_day,
    load_calendar_dir,
    subtract_working_days,
    working_days_between,
)

CST = ZoneInfo("Asia/Shanghai")
CN = Calendar.of(load_calendar_dir(builtin_calendar_dir()))


def cst(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, us, tzinfo=CST)


def end_of(y: int, m: int, d: int) -> datetime:
    """Local midnight closing that day: what a deadline on that day looks like."""
    return cst(y, m, d) + timedelta(days=1)


def sure(at: datetime) -> Due:
    return Due(at=at, provisional=False, missing_years=())


# --- the shipped data ---------------------------------------------------------------------------


def test_builtin_years_are_2020_to_2026_and_2027_is_missing() -> None:
    assert CN.years == frozenset(range(2020, 2027))
    assert not (builtin_calendar_dir() / "2027.json").exists()


def test_2026_file_matches_the_official_notice() -> None:
    (cy,) = [y for y in load_calendar_dir(builtin_calendar_dir()) if y.year == 2026]
    # Spring Festival: off Sun 15 Feb – Mon 23 Feb; the weekdays are 16–20 and 23.
    assert [d for d in cy.holidays if d.month == 2] == [date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)]
    # Make-up days: Sun 4 Jan, Sat 14 Feb, Sat 28 Feb, Sat 9 May, Sun 20 Sep, Sat 10 Oct.
    assert cy.workdays == (
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    )
    # National Day: off Thu 1 – Wed 7 Oct; Sat 3 and Sun 4 are weekend anyway.
    assert [d for d in cy.holidays if d.month == 10] == [date(2026, 10, d) for d in (1, 2, 5, 6, 7)]


def test_shipped_files_equal_a_fresh_export() -> None:
    for cy in load_calendar_dir(builtin_calendar_dir()):
        assert cy == export_chinese_calendar_year(cy.year)


def test_export_refuses_a_year_the_package_does_not_know() -> None:
    with pytest.raises(ValueError, match="no schedule for 2027"):
        export_chinese_calendar_year(2027)


def test_file_round_trip_and_checks(tmp_path) -> None:
    cy = CalendarYear(year=2030, holidays=(date(2030, 1, 1),), workdays=(), source="test")
    (tmp_path / "2030.json").write_bytes(msgspec.json.encode(cy))
    assert load_calendar_dir(tmp_path) == [cy]
    (tmp_path / "2031.json").write_bytes(msgspec.json.encode(cy))
    with pytest.raises(ValueError, match="holds year 2030"):
        load_calendar_dir(tmp_path)


def test_file_with_a_day_of_another_year_is_refused(tmp_path) -> None:
    cy = CalendarYear(year=2030, holidays=(date(2031, 1, 1),), workdays=(), source="test")
    (tmp_path / "2030.json").write_bytes(msgspec.json.encode(cy))
    with pytest.raises(ValueError, match="outside 2030"):
        load_calendar_dir(tmp_path)


def test_calendar_of_refuses_contradictions() -> None:
    a = CalendarYear(year=2030, holidays=(date(2030, 1, 1),), workdays=(), source="a")
    with pytest.raises(ValueError, match="given twice"):
        Calendar.of([a, a])
    b = CalendarYear(year=2030, holidays=(date(2030, 1, 5),), workdays=(date(2030, 1, 5),), source="b")
    with pytest.raises(ValueError, match="both"):
        Calendar.of([b])
    with pytest.raises(ZoneInfoNotFoundError):
        Calendar.of([], tz="Asia/Shangai")


# --- is_working_day -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 28), True),  # Sunday, make-up day before National Day
        (date(2025, 10, 3), False),  # Friday inside the golden week
        (date(2025, 10, 11), True),  # Saturday, make-up day after it
        (date(2025, 10, 12), False),  # plain Sunday
        (date(2025, 10, 9), True),  # plain Thursday
        (date(2027, 1, 1), True),  # Friday of an unpublished year: weekends only
        (date(2027, 1, 2), False),  # Saturday of an unpublished year
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert is_working_day(CN, day) is working


# --- add_working_days ---------------------------------------------------------------------------


def test_national_day_2025_golden_week() -> None:
    # Tue 30 Sep; 1–8 Oct off; Thu 9 Oct is the 1st working day.
    assert add_working_days(CN, cst(2025, 9, 30, 10), 1) == sure(end_of(2025, 10, 9))
    # 9 Thu (1), 10 Fri (2), 11 Sat make-up (3), 12 Sun off, 13 Mon (4), 14 Tue (5).
    assert add_working_days(CN, cst(2025, 9, 30, 10), 5) == sure(end_of(2025, 10, 14))


def test_make_up_sunday_counts() -> None:
    # Fri 26 Sep 2025: Sat 27 off, Sun 28 is a make-up working day.
    assert add_working_days(CN, cst(2025, 9, 26, 15), 1) == sure(end_of(2025, 9, 28))


def test_spring_festival_2026() -> None:
    start = cst(2026, 2, 13, 9)  # Friday
    assert add_working_days(CN, start, 1) == sure(end_of(2026, 2, 14))  # Sat 14 make-up
    # 14 (1); Sun 15 – Mon 23 off; Tue 24 (2) ... Fri 27 (5); Sat 28 make-up (6).
    assert add_working_days(CN, start, 2) == sure(end_of(2026, 2, 24))
    assert add_working_days(CN, start, 5) == sure(end_of(2026, 2, 27))
    assert add_working_days(CN, start, 6) == sure(end_of(2026, 2, 28))


def test_national_day_2026_with_mid_autumn() -> None:
    # Thu 24 Sep 2026: Fri 25 Mid-Autumn, 26–27 weekend, Mon 28 (1).
    assert add_working_days(CN, cst(2026, 9, 24), 1) == sure(end_of(2026, 9, 28))
    # 28 (1), 29 (2), 30 (3); 1–7 Oct off; Thu 8 (4), Fri 9 (5), Sat 10 make-up (6).
    assert add_working_days(CN, cst(2026, 9, 24), 6) == sure(end_of(2026, 10, 10))


def test_year_end_into_new_year_holiday() -> None:
    # Wed 31 Dec 2025: 1–3 Jan 2026 off, Sun 4 Jan make-up.
    assert add_working_days(CN, cst(2025, 12, 31, 10), 1) == sure(end_of(2026, 1, 4))


def test_start_day_never_counts_and_local_date_decides() -> None:
    # 08:00 and 23:59 on Fri 13 Feb 2026 give the same deadline.
    assert add_working_days(CN, cst(2026, 2, 13, 8), 1).at == end_of(2026, 2, 14)
    assert add_working_days(CN, cst(2026, 2, 13, 23, 59), 1).at == end_of(2026, 2, 14)
    # 16:30 UTC on 13 Feb is 00:30 Sat 14 Feb in Shanghai: 14 is the start day, next is Tue 24.
    utc_start = datetime(2026, 2, 13, 16, 30, tzinfo=UTC)
    assert add_working_days(CN, utc_start, 1).at == end_of(2026, 2, 24)


def test_result_is_utc() -> None:
    due = add_working_days(CN, cst(2025, 9, 30, 10), 1)
    # End of 9 Oct in Shanghai is 16:00 UTC that day.
    assert due.at.tzinfo is UTC
    assert due.at == datetime(2025, 10, 9, 16, 0, tzinfo=UTC)


def test_zero_days_is_end_of_current_or_next_working_day() -> None:
    assert add_working_days(CN, cst(2025, 10, 9, 10), 0) == sure(end_of(2025, 10, 9))  # working Thursday
    assert add_working_days(CN, cst(2025, 10, 4, 10), 0) == sure(end_of(2025, 10, 9))  # golden-week Saturday


def test_negative_days_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(CN, cst(2025, 10, 9), -1)


def test_deadline_ending_31_december_does_not_need_next_year() -> None:
    # Thu 24 Dec 2026: Fri 25 (1), Mon 28 (2), 29 (3), 30 (4), Thu 31 (5). January never looked at.
    assert add_working_days(CN, cst(2026, 12, 24), 5) == sure(end_of(2026, 12, 31))


def test_start_day_year_is_not_consulted() -> None:
    # Tue 31 Dec 2019 has no calendar, but only 2020 is counted: Wed 1 Jan off, Thu 2 Jan (1).
    assert add_working_days(CN, cst(2019, 12, 31, 10), 1) == sure(end_of(2020, 1, 2))


def test_deadline_into_2027_is_provisional_on_weekends_only() -> None:
    # 5 days end on Thu 31 Dec; the 6th is Fri 1 Jan 2027, a plain weekday without a calendar.
    due = add_working_days(CN, cst(2026, 12, 24), 6)
    assert due == Due(at=end_of(2027, 1, 1), provisional=True, missing_years=(2027,))


def test_loading_2027_changes_the_answer() -> None:
    # Synthetic 2027: New Year's Day Fri 1 Jan off, and Sun 3 Jan a make-up day.
    y2027 = CalendarYear(year=2027, holidays=(date(2027, 1, 1),), workdays=(date(2027, 1, 3),), source="test")
    cal = Calendar.of([*load_calendar_dir(builtin_calendar_dir()), y2027])
    # 6th working day: Fri 1 off, Sat 2 off, Sun 3 make-up.
    assert add_working_days(cal, cst(2026, 12, 24), 6) == sure(end_of(2027, 1, 3))
    # 7th: Mon 4 Jan.
    assert add_working_days(cal, cst(2026, 12, 24), 7) == sure(end_of(2027, 1, 4))


def test_empty_calendar_counts_weekends_and_lists_every_year() -> None:
    bare = Calendar.of([])
    # Wed 30 Dec 2020 + 3: Thu 31 (1), Fri 1 Jan (2), Mon 4 Jan (3); holidays ignored.
    assert add_working_days(bare, cst(2020, 12, 30), 3) == Due(
        at=end_of(2021, 1, 4), provisional=True, missing_years=(2020, 2021)
    )


def test_synthetic_calendar_in_another_timezone() -> None:
    cy = CalendarYear(year=2030, holidays=(date(2030, 7, 1),), workdays=(date(2030, 7, 6),), source="test")
    cal = Calendar.of([cy], tz="Europe/Paris")
    # Fri 28 Jun 2030 + 2: Mon 1 Jul off, Tue 2 (1), Wed 3 (2); end of Wed in Paris (UTC+2) is 22:00 UTC.
    assert add_working_days(cal, datetime(2030, 6, 28, 9, tzinfo=ZoneInfo("Europe/Paris")), 2) == sure(
        datetime(2030, 7, 3, 22, tzinfo=UTC)
    )
    # Fri 5 Jul + 1: Sat 6 is a make-up day.
    assert add_working_days(cal, datetime(2030, 7, 5, 9, tzinfo=UTC), 1).at == datetime(
        2030, 7, 6, 22, tzinfo=UTC
    )


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_days(CN, datetime(2025, 10, 9, 10), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        subtract_working_days(CN, datetime(2025, 10, 9), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_days_between(CN, datetime(2025, 10, 9), cst(2025, 10, 10))


# --- subtract_working_days ----------------------------------------------------------------------


def test_subtract_from_end_of_day() -> None:
    due = end_of(2026, 2, 27)  # Friday
    assert subtract_working_days(CN, due, 1) == sure(cst(2026, 2, 27))
    assert subtract_working_days(CN, due, 3) == sure(cst(2026, 2, 25))
    assert subtract_working_days(CN, due, 0) == sure(due)


def test_subtract_jumps_back_over_spring_festival() -> None:
    # Last 2 working days before the end of Tue 24 Feb 2026: Tue 24 and Sat 14 (make-up).
    assert subtract_working_days(CN, end_of(2026, 2, 24), 2) == sure(cst(2026, 2, 14))


def test_subtract_from_end_of_holiday_monday_skips_it() -> None:
    # A deadline at the end of Mon 6 Oct 2025 (a holiday): 1–6 Oct are off, the last working day
    # is Tue 30 Sep; two back are Mon 29 and Tue 30 Sep; three reach Sun 28 Sep (make-up).
    assert subtract_working_days(CN, end_of(2025, 10, 6), 1) == sure(cst(2025, 9, 30))
    assert subtract_working_days(CN, end_of(2025, 10, 6), 3) == sure(cst(2025, 9, 28))


def test_subtract_inside_2027_is_provisional() -> None:
    assert subtract_working_days(CN, end_of(2027, 1, 4), 2) == Due(
        at=cst(2027, 1, 1), provisional=True, missing_years=(2027,)
    )


# --- working_days_between -----------------------------------------------------------------------


def test_between_counts_fractions_of_working_days() -> None:
    # Fri 26 Sep 12:00 → Mon 29 Sep 12:00: half Fri + Sat off + Sun 28 make-up + half Mon = 2.0.
    assert working_days_between(CN, cst(2025, 9, 26, 12), cst(2025, 9, 29, 12)) == 2.0
    # Tue 30 Sep 00:00 → Thu 9 Oct 00:00: only 30 Sep works = 1.0.
    assert working_days_between(CN, cst(2025, 9, 30), cst(2025, 10, 9)) == 1.0
    # Six hours of a working Thursday, given in UTC.
    assert (
        working_days_between(CN, datetime(2025, 10, 9, 1, tzinfo=UTC), datetime(2025, 10, 9, 7, tzinfo=UTC))
        == 0.25
    )
    assert working_days_between(CN, cst(2025, 10, 3, 9), cst(2025, 10, 3, 17)) == 0.0  # holiday


def test_between_refuses_end_before_start() -> None:
    with pytest.raises(ValueError, match="before start"):
        working_days_between(CN, cst(2025, 10, 9), cst(2025, 10, 8))
