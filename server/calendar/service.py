"""Loading official working-day calendars, and what a missing year means for open deadlines (DESIGN §5).

A year's schedule is published late in the year before, so deadlines reach into years with no
calendar: they are computed on weekends alone and flagged provisional. Loading the year
recomputes them; the console lists the years still missing. A year is checked before anything is
stored, and stored with the recomputed deadlines in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from server.calendar.workdays import CalendarYear, year_problem
from server.cases.service import replan_deadlines
from server.db import fetch, transaction
from server.districts import setup as seed
from server.errors import DomainError
from server.tables import CalendarYearRow, Case, District

__all__ = ["CalendarStatus", "LoadResult", "calendar_status", "load_years", "load_year_files"]


class CalendarStatus(msgspec.Struct):
    loaded_years: list[int]
    # Years that unfinished cases' deadlines reach into with no official schedule loaded.
    missing_years: list[int]
    provisional_cases: int


class LoadResult(msgspec.Struct):
    years: list[int]
    recomputed_cases: int


def _check(years: list[CalendarYear]) -> None:
    for cy in years:
        problem = year_problem(cy)
        if problem:
            raise DomainError("invalid_calendar", f"year {cy.year}: {problem[1]}", problem[0], 422)


async def load_years(district_id: int, years: list[CalendarYear]) -> LoadResult:
    """Store (or replace) checked years and recompute the deadlines they settle, all or nothing."""
    _check(years)
    async with transaction():
        # Loads of one district wait for each other, so a year is never replaced twice at once;
        # NO KEY UPDATE leaves rows referring to the district (new cases) free to be written.
        await fetch("SELECT id FROM districts WHERE id = {} FOR NO KEY UPDATE", district_id)
        loaded = await seed.load_calendar_years(district_id, years)
        recomputed = await replan_deadlines(district_id, datetime.now(UTC))
    return LoadResult(years=loaded, recomputed_cases=recomputed)


async def load_year_files(district_code: str, paths: list[Path]) -> LoadResult:
    row = await District.select(District.id).where(District.code == district_code).first()
    if row is None:
        raise SystemExit(f"no district {district_code!r}")
    years = [msgspec.json.decode(p.read_bytes(), type=CalendarYear) for p in paths]
    return await load_years(row["id"], years)


async def calendar_status(district_id: int) -> CalendarStatus:
    # A stored year that breaks a rule (stored before years were checked) counts as missing, as
    # it does for deadlines (`Calendar.from_stored`).
    loaded = sorted(
        r["year"]
        for r in await CalendarYearRow.select().where(CalendarYearRow.district_id == district_id)
        if year_problem(
            CalendarYear(
                year=r["year"],
                holidays=tuple(r["holidays"]),
                workdays=tuple(r["workdays"]),
                source=r["source"],
            )
        )
        is None
    )
    rows = await Case.raw(
        "SELECT count(*) AS n, min(extract(year FROM dispatched_at))::int AS first, "
        "max(extract(year FROM due_at))::int AS last FROM cases "
        "WHERE district_id = {} AND due_provisional AND status NOT IN ('closed', 'archived')",
        district_id,
    )
    summary = rows[0]
    missing: list[int] = []
    if summary["n"]:
        missing = [y for y in range(summary["first"], summary["last"] + 1) if y not in loaded]
    return CalendarStatus(loaded_years=loaded, missing_years=missing, provisional_cases=summary["n"])
