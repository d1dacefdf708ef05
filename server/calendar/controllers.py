"""Working-day calendars of the caller's district: which years are loaded or missing; load a year."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES
from server.calendar.service import CalendarStatus, LoadResult, calendar_status, load_years
from server.calendar.workdays import CalendarYear
from server.http import ERROR_RESPONSES

__all__ = ["CalendarController"]


class CalendarController(Controller):
    path = "/calendars"
    tags = ["calendars"]

    @get("/", operation_id="calendarStatus", responses=ERROR_RESPONSES)
    async def status(self, actor: NamedDependency[Actor]) -> CalendarStatus:
        return await calendar_status(actor.district_id)

    @post("/", operation_id="calendarLoad", status_code=200, responses=ERROR_RESPONSES)
    async def load(self, actor: NamedDependency[Actor], data: JSONBody[CalendarYear]) -> LoadResult:
        """Load (or replace) one year's official schedule; provisional deadlines are recomputed."""
        require_role(actor, ADMIN_ROLES, "manage calendars")
        return await load_years(actor.district_id, [data])
