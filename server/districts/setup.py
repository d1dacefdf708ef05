"""Creating a district and what it needs to run: calendars, categories, units, users.

The demo loader and the tests build their districts with these same functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.accounts.service import hash_password
from server.calendar.workdays import CalendarYear, builtin_calendar_dir, load_calendar_dir
from server.tables import CalendarYearRow, Category, District, Unit, User

__all__ = [
    "DEFAULT_CATEGORIES",
    "add_category",
    "add_unit",
    "add_user",
    "create_district",
    "load_calendar_years",
]

# (code, English name, Chinese name, working days or None for the type's default), DESIGN §3 and §5.
DEFAULT_CATEGORIES: tuple[tuple[str, str, str, int | None], ...] = (
    ("city_appearance", "City appearance", "市容", 5),
    ("planning", "Planning", "规划", 15),
    ("greening", "Greening", "绿化", 7),
    ("environment", "Environment", "环保", 5),
    ("municipal", "Municipal works", "市政", 5),
    ("public_security", "Public security", "公安", 5),
    ("conduct", "Conduct of officials", "行风", 7),
    ("other", "Other", "其他", None),
)


async def load_calendar_years(district_id: int, years: Iterable[CalendarYear]) -> list[int]:
    """Load (or replace) official schedules; returns the years loaded."""
    loaded = []
    for year in years:
        await CalendarYearRow.delete().where(
            (CalendarYearRow.district_id == district_id) & (CalendarYearRow.year == year.year)
        )
        await CalendarYearRow.insert(
            CalendarYearRow(
                district_id=district_id,
                year=year.year,
                holidays=list(year.holidays),
                workdays=list(year.workdays),
                source=year.source,
            )
        )
        loaded.append(year.year)
    return loaded


async def create_district(
    code: str, name: str, *, timezone: str = "Asia/Shanghai", categories: bool = True, calendars: bool = True
) -> int:
    district = District(code=code, name=name, timezone=timezone)
    await district.save()
    if calendars:
        await load_calendar_years(district.id, load_calendar_dir(builtin_calendar_dir()))
    if categories:
        for cat_code, cat_name, zh, days in DEFAULT_CATEGORIES:
            await add_category(district.id, cat_code, cat_name, zh, days)
    return district.id


async def add_category(
    district_id: int, code: str, name: str, name_zh: str = "", days: int | None = None
) -> int:
    row = Category(district_id=district_id, code=code, name=name, name_zh=name_zh, time_limit_days=days)
    await row.save()
    return row.id


async def add_unit(
    district_id: int,
    code: str,
    name: str,
    *,
    parent_id: int | None = None,
    kind: str = "department",
    leader: tuple[str, str] = ("", ""),
    head: tuple[str, str] = ("", ""),
) -> int:
    row = Unit(
        district_id=district_id,
        code=code,
        name=name,
        parent_id=parent_id,
        kind=kind,
        leader_name=leader[0],
        leader_phone=leader[1],
        head_name=head[0],
        head_phone=head[1],
    )
    await row.save()
    return row.id


async def add_user(
    district_id: int,
    username: str,
    name: str,
    role: str,
    password: str,
    *,
    unit_id: int | None = None,
    phone: str = "",
) -> int:
    row = User(
        district_id=district_id,
        username=username,
        name=name,
        role=role,
        unit_id=unit_id,
        phone=phone,
        password_hash=hash_password(password),
    )
    await row.save()
    return row.id
