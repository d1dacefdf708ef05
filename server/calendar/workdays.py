"""Working days of an official calendar, and deadlines counted in them (DESIGN §5).

A calendar is data: one `CalendarYear` per year, shipped as JSON under `server/calendar/years`.
A year's schedule is published late in the year before, so arithmetic regularly walks into a
year that has no file yet. Such a year is counted on weekends alone and every result that looked
at it says so (`Due.provisional`, `Due.missing_years`): the caller can flag the deadline and
recompute it once the year is loaded, instead of crashing or silently guessing.

Deadlines end at local midnight: a limit of n working days means "by the end of the n-th working
day after the day the clock started", in the calendar's timezone. Results are aware UTC datetimes.

Regenerate a year's file from the `chinesecalendar` package with
`python -m server.calendar.workdays 2026 > server/calendar/years/2026.json`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import chinese_calendar
import msgspec

from server.types import NO_NUL

__all__ = [
    "Calendar",
    "CalendarYear",
    "Due",
    "add_working_days",
    "builtin_calendar_dir",
    "export_chinese_calendar_year",
    "is_working_day",
    "load_calendar_dir",
    "require_aware",
    "subtract_working_days",
    "working_days_between",
    "year_problem",
]

_DAY = timedelta(days=1)
# A deadline at local midnight is the end of the day before it: stepping back one tick from an
# instant names the day that instant closes.
_TICK = timedelta(microseconds=1)


class CalendarYear(msgspec.Struct, frozen=True):
    """One year's official schedule, exactly as stored in `<year>.json`.

    `holidays` are the Monday–Friday days off (weekend days inside a holiday are off anyway);
    `workdays` are the make-up working days (调休) that fall on a weekend.
    """

    year: Annotated[int, msgspec.Meta(ge=1949, le=2200)]
    holidays: Annotated[tuple[date, ...], msgspec.Meta(max_length=366)]
    workdays: Annotated[tuple[date, ...], msgspec.Meta(max_length=366)]
    source: Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)]


def year_problem(cy: CalendarYear) -> tuple[str, str] | None:
    """`(field, message)` naming the first day that makes the year unusable, or None.

    A day of another year, or a day both off and on, would make every deadline across it a guess.
    """
    for field, days in (("holidays", cy.holidays), ("workdays", cy.workdays)):
        stray = next((d for d in days if d.year != cy.year), None)
        if stray is not None:
            return field, f"{stray} is outside {cy.year}"
    both = sorted(set(cy.holidays) & set(cy.workdays))
    if both:
        return "workdays", f"{both[0]} is both a holiday and a make-up working day"
    return None


class Calendar(msgspec.Struct, frozen=True):
    """The loaded years merged into lookup sets; `years` tells a known year from a missing one."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]
    tz: str = "Asia/Shanghai"

    @classmethod
    def of(cls, years: Iterable[CalendarYear], tz: str = "Asia/Shanghai") -> Calendar:
        """Merge years; a year given twice or a day both off and on is a data error, not a choice."""
        ZoneInfo(tz)  # fail here on a misspelt zone, not at the first deadline
        holidays: set[date] = set()
        workdays: set[date] = set()
        seen: set[int] = set()
        for cy in years:
            if cy.year in seen:
                raise ValueError(f"calendar year {cy.year} given twice")
            seen.add(cy.year)
            holidays.update(cy.holidays)
            workdays.update(cy.workdays)
        both = holidays & workdays
        if both:
            raise ValueError(f"days both holiday and make-up working day: {sorted(both)}")
        return cls(frozenset(holidays), frozenset(workdays), frozenset(seen), tz)

    @classmethod
    def from_stored(cls, years: Iterable[CalendarYear], tz: str = "Asia/Shanghai") -> Calendar:
        """Merge the years a district has stored, leaving out any that breaks a rule (stored before
        years were checked, or twice): such a year counts as not loaded, so the deadlines crossing
        it are provisional and flagged, and case work goes on."""
        usable: dict[int, CalendarYear | None] = {}
        for cy in years:
            usable[cy.year] = None if cy.year in usable or year_problem(cy) else cy
        return cls.of([cy for cy in usable.values() if cy is not None], tz)


class Due(msgspec.Struct, frozen=True):
    """An instant computed in working days, with the years it had to count on weekends alone."""

    at: datetime
    provisional: bool
    missing_years: tuple[int, ...]


def require_aware(value: datetime, name: str) -> datetime:
    """Refuse naive datetimes: a deadline is only meaningful against a known UTC offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def is_working_day(cal: Calendar, d: date) -> bool:
    """Make-up working day → True, holiday → False, otherwise Monday to Friday.

    A day of a year with no loaded calendar has neither, so only weekends are off.
    """
    if d in cal.workdays:
        return True
    if d in cal.holidays:
        return False
    return d.weekday() < 5


def _local_date(cal: Calendar, at: datetime) -> date:
    return at.astimezone(ZoneInfo(cal.tz)).date()


def _start_of(cal: Calendar, d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=ZoneInfo(cal.tz)).astimezone(UTC)


def _due(cal: Calendar, at: datetime, consulted: set[int]) -> Due:
    missing = tuple(sorted(consulted - cal.years))
    return Due(at=at, provisional=bool(missing), missing_years=missing)


def add_working_days(cal: Calendar, start: datetime, n: int) -> Due:
    """End of the n-th working day after the local date of `start` (that day never counts).

    The start day is excluded whatever the hour, so a case registered at 08:00 and one registered
    at 23:00 get the same deadline. n=0 means "by the end of today's working day": the end of the
    start day if it is a working day, else the end of the next working day. Only the days actually
    stepped over are consulted, so a deadline ending on 31 December does not depend on January.
    """
    require_aware(start, "start")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = _local_date(cal, start)
    consulted = {day.year} if n == 0 else set()
    if n == 0 and is_working_day(cal, day):
        return _due(cal, _start_of(cal, day + _DAY), consulted)
    counted = 0
    while counted < max(n, 1):
        day += _DAY
        consulted.add(day.year)
        counted += is_working_day(cal, day)
    return _due(cal, _start_of(cal, day + _DAY), consulted)


def subtract_working_days(cal: Calendar, due: datetime, n: int) -> Due:
    """Start of the earliest of the last n working days before `due` (the yellow window's start).

    `due` belongs to the day it closes: a deadline at local midnight counts back from the day
    before it, so for a deadline at the end of a Friday, n=1 gives Friday 00:00. n=0 gives `due`.
    """
    require_aware(due, "due")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return _due(cal, due.astimezone(UTC), set())
    day = _local_date(cal, due - _TICK)
    consulted = {day.year}
    counted = int(is_working_day(cal, day))
    while counted < n:
        day -= _DAY
        consulted.add(day.year)
        counted += is_working_day(cal, day)
    return _due(cal, _start_of(cal, day), consulted)


def working_days_between(cal: Calendar, start: datetime, end: datetime) -> float:
    """Elapsed time from `start` to `end` that falls on working days, in days (fractions kept).

    Used for "mean handling time in working days": a case handled from Friday noon to Monday noon
    over a plain weekend took 1.0 working day. Years with no loaded calendar count weekends only;
    the answer is a statistic, so it is not flagged. `end` before `start` is a caller's error.
    """
    require_aware(start, "start")
    require_aware(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    total = 0.0
    day = _local_date(cal, start)
    last = _local_date(cal, end)
    while day <= last:
        if is_working_day(cal, day):
            lo, hi = _start_of(cal, day), _start_of(cal, day + _DAY)
            overlap = min(hi, end) - max(lo, start)
            total += overlap / (hi - lo)
        day += _DAY
    return total


def builtin_calendar_dir() -> Path:
    """The shipped mainland China calendars, one `<year>.json` per published year."""
    return Path(__file__).parent / "years"


def load_calendar_dir(path: str | Path) -> list[CalendarYear]:
    """Read every `<year>.json` in `path`, oldest first; a file must hold only its own year."""
    years = []
    for file in sorted(Path(path).glob("*.json")):
        cy = msgspec.json.decode(file.read_bytes(), type=CalendarYear)
        if file.stem != str(cy.year):
            raise ValueError(f"{file} holds year {cy.year}")
        problem = year_problem(cy)
        if problem:
            raise ValueError(f"{file}: {problem[0]}: {problem[1]}")
        years.append(cy)
    return years


def export_chinese_calendar_year(year: int) -> CalendarYear:
    """Build a year from the `chinesecalendar` package, which bundles the official notices.

    Weekend days inside a holiday are dropped (they are off anyway). A year the package does not
    know is refused rather than exported as an empty, weekends-only year that would look official.
    """
    known = {d.year for d in chinese_calendar.holidays}
    if year not in known:
        raise ValueError(
            f"chinesecalendar {chinese_calendar.__version__} has no schedule for {year} "
            f"(it knows {min(known)}–{max(known)})"
        )
    return CalendarYear(
        year=year,
        holidays=tuple(sorted(d for d in chinese_calendar.holidays if d.year == year and d.weekday() < 5)),
        workdays=tuple(sorted(d for d in chinese_calendar.workdays if d.year == year)),
        source=f"chinesecalendar {chinese_calendar.__version__}",
    )


if __name__ == "__main__":
    encoded = msgspec.json.encode(export_chinese_calendar_year(int(sys.argv[1])))
    sys.stdout.write(msgspec.json.format(encoded, indent=2).decode() + "\n")
