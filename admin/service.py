"""The console's ranking: a month in the district's time zone, figures from the event log, CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from admin import queries
from admin.rankings import Ranking, SortKey, UnitFigures, rank_units, sorted_rows
from server.cases.service import district_calendar
from server.errors import DomainError

__all__ = ["CSV_COLUMNS", "month_bounds", "ranking", "ranking_csv"]


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """`2026-11` → its first instant and the next month's, local midnight in `tz`."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise DomainError("invalid_month", f"month must be YYYY-MM, got {month!r}", "month", 422) from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    zone = ZoneInfo(tz)
    return datetime(first.year, first.month, 1, tzinfo=zone), datetime(
        following.year, following.month, 1, tzinfo=zone
    )


async def ranking(
    district_id: int, month: str, minimum_closed: int, key: SortKey, descending: bool
) -> Ranking:
    calendar = await district_calendar(district_id)
    start, end = month_bounds(month, calendar.tz)
    result = rank_units(
        month=month,
        units=await queries.district_units(district_id),
        events=await queries.events_until(district_id, end),
        overdue_now=await queries.overdue_by_unit(district_id),
        calendar=calendar,
        start=start,
        end=end,
        minimum_closed=minimum_closed,
    )
    return result if key == "rank" else sorted_rows(result, key, descending)


# Header (Chinese once, for the spreadsheet's reader) and the figure each column shows.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("排名 rank", "rank"),
    ("单位 unit", "unit_name"),
    ("受理 received", "received"),
    ("派遣 dispatched", "dispatched"),
    ("按时派遣 dispatched on time", "dispatched_on_time"),
    ("办结 closed", "closed"),
    ("按时办结 closed on time", "closed_on_time"),
    ("按时办结率 on-time rate", "on_time_rate"),
    ("超期 overdue now", "overdue_now"),
    ("延期 extensions", "extensions"),
    ("退回 returns", "returns"),
    ("满意率 satisfaction rate", "satisfaction_rate"),
    ("返工率 rework rate", "rework_rate"),
    ("重复投诉 repeats", "repeats"),
    ("平均办理工作日 mean handling days", "mean_handling_days"),
    ("扣分 deductions", "deductions"),
)


def _cell(row: UnitFigures, name: str) -> str:
    value = getattr(row, name)
    return "" if value is None else str(value)


def ranking_csv(result: Ranking) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right; the units
    listed apart follow the ranked ones, marked as such."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for header, _ in CSV_COLUMNS] + ["备注 note"])
    for row in result.ranked:
        writer.writerow([_cell(row, name) for _, name in CSV_COLUMNS] + [""])
    for row in result.apart:
        note = f"办结少于 {result.minimum_closed} 件, 不参与排名 (fewer than {result.minimum_closed} closed)"
        writer.writerow([_cell(row, name) for _, name in CSV_COLUMNS] + [note])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
