"""What the console's ranking reads: the district's units, its event log up to a month's end, and
the cases overdue right now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from admin.rankings import LOGGED_ACTIONS, LoggedEvent, Unit
from server.calendar.lights import light_sql
from server.cases.domain import OPEN_STATUSES
from server.db import fetch

__all__ = ["directory", "district_units", "events_until", "overdue_by_unit"]


async def district_units(district_id: int) -> list[Unit]:
    rows = await fetch("SELECT id, name FROM units WHERE district_id = {} ORDER BY name", district_id)
    return [Unit(r["id"], r["name"]) for r in rows]


def _data(value: Any) -> dict[str, Any]:
    decoded = msgspec.json.decode(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else {}


async def events_until(district_id: int, end: datetime) -> list[LoggedEvent]:
    """Every event before `end` of the district's cases: the month's figures need the lead unit each
    case had when its events of the month happened, which earlier events decide."""
    rows = await fetch(
        "SELECT e.case_id, e.seq, e.action, e.at, e.data, c.registered_at, u.unit_id AS actor_unit_id "
        "FROM case_events e JOIN cases c ON c.id = e.case_id "
        "LEFT JOIN app_users u ON u.id = e.actor_id "
        "WHERE e.district_id = {} AND e.at < {} AND e.action = ANY({}::text[])",
        district_id,
        end,
        list(LOGGED_ACTIONS),
    )
    return [LoggedEvent(**{**r, "data": _data(r["data"])}) for r in rows]


async def overdue_by_unit(district_id: int) -> dict[int, int]:
    rows = await fetch(
        f"SELECT lead_unit_id, count(*) AS n FROM cases WHERE district_id = {{}} "
        f"AND lead_unit_id IS NOT NULL AND status = ANY({{}}) AND ({light_sql()}) = 'red' "
        "GROUP BY lead_unit_id",
        district_id,
        sorted(OPEN_STATUSES),
    )
    return {r["lead_unit_id"]: r["n"] for r in rows}


async def directory(district_id: int) -> dict[str, list[dict[str, Any]]]:
    """Names the console shows for the ids other answers carry: units, categories, people."""
    units = await fetch(
        "SELECT id, name, parent_id FROM units WHERE district_id = {} ORDER BY name", district_id
    )
    categories = await fetch(
        "SELECT id, code, name, name_zh FROM categories WHERE district_id = {} AND active ORDER BY id",
        district_id,
    )
    users = await fetch(
        "SELECT id, name, role, unit_id FROM app_users WHERE district_id = {} AND active ORDER BY name",
        district_id,
    )
    return {"units": units, "categories": categories, "users": users}
