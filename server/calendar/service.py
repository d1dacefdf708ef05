"""Loading official working-day calendars, and what a missing year means for open deadlines (DESIGN §5).

A year's schedule is published late in the year before, so deadlines reach into years with no
calendar: they are computed on weekends alone and flagged provisional. Loading the year
recomputes them; the console lists the years still missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from server.calendar.workdays import CalendarYear
from server.cases.service import replan_deadlines
from server.districts import setup as seed
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


async def load_years(district_id: int, years: list[CalendarYear]) -> LoadResult:
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
    loaded = sorted(
        r["year"]
        for r in await CalendarYearRow.select(CalendarYearRow.year).where(
            CalendarYearRow.district_id == district_id
        )
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
