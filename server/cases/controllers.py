"""The case API: register, read with its timeline, list with filters, one endpoint per transition."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from geo.assign import locate
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.calendar.lights import light_sql
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import ACTIONS, Light, Status
from server.cases.schemas import CaseCreate, CaseOut, CasePage
from server.db import fetch
from server.errors import DomainError
from server.http import ERROR_RESPONSES

__all__ = ["CaseController", "TRANSITION_ROUTES"]

_REGISTRARS = frozenset({"agent", "district_admin", "grid_worker"})


async def _visible_case(case_id: uuid.UUID, actor: Actor) -> CaseOut:
    view = await cases.case_view(case_id, actor)
    if view is None:
        raise DomainError("case_not_found", f"no case {case_id} in your scope", "case_id", 404)
    return view


class CaseController(Controller):
    path = "/cases"
    tags = ["cases"]

    @post("/", operation_id="registerCase", status_code=201, responses=ERROR_RESPONSES)
    async def register(self, actor: NamedDependency[Actor], data: JSONBody[CaseCreate]) -> CaseOut:
        require_role(actor, _REGISTRARS, "register cases")
        if (data.lat is None) != (data.lon is None):
            raise DomainError("invalid_location", "give both lat and lon, or neither", "lat", 422)
        now = datetime.now(UTC)
        async with cases.transaction():
            placement = await locate(actor.district_id, data.lat, data.lon) if data.lat is not None else None
            state = await cases.register(
                data, district_id=actor.district_id, actor=actor, now=now, placement=placement
            )
        return await _visible_case(state.id, actor)

    @get("/{case_id:uuid}", operation_id="getCase", responses=ERROR_RESPONSES)
    async def get_case(self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]) -> CaseOut:
        return await _visible_case(case_id, actor)

    @get("/", operation_id="listCases", responses=ERROR_RESPONSES)
    async def list_cases(
        self,
        actor: NamedDependency[Actor],
        status: FromQuery[Status | None] = None,
        category_id: FromQuery[int | None] = None,
        unit_id: FromQuery[int | None] = None,
        grid_id: FromQuery[int | None] = None,
        light: FromQuery[Light | None] = None,
        q: Annotated[
            str | None, QueryParameter(description="text in ticket, title, description or address")
        ] = None,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> CasePage:
        visible, visible_args = cases.visibility_sql(actor)
        where = [visible]
        args: list[Any] = list(visible_args)
        for column, value in (("status", status), ("category_id", category_id), ("grid_id", grid_id)):
            if value is not None:
                where.append(f"{column} = {{}}")
                args.append(value)
        if unit_id is not None:
            where.append("(lead_unit_id = {} OR {} = ANY(co_unit_ids))")
            args += [unit_id, unit_id]
        if light:
            where.append(f"({light_sql()}) = {{}}")
            args.append(light)
        if q:
            where.append("(ticket ILIKE {} OR title ILIKE {} OR description ILIKE {} OR address ILIKE {})")
            args += [f"%{q}%"] * 4
        clause = " AND ".join(where)
        rows = await fetch(
            f"SELECT {cases.VIEW_COLUMNS}, count(*) OVER () AS total FROM cases WHERE {clause} "
            "ORDER BY registered_at DESC, id OFFSET {} LIMIT {}",
            *args,
            offset,
            limit,
        )
        total = rows[0]["total"] if rows else 0
        return CasePage(items=cases.case_views(rows, actor), total=total, offset=offset, limit=limit)


def _transition_handler(action: str) -> HTTPRouteHandler:
    payload_type = lifecycle.PAYLOADS[action]
    name = "".join(part.title() for part in action.split("_"))
    # An action whose payload has no fields may omit it; the others must send it.
    payload_field = (
        ("payload", payload_type, msgspec.field(default_factory=payload_type))
        if not payload_type.__struct_fields__
        else ("payload", payload_type)
    )
    body_type = msgspec.defstruct(
        f"{name}Request",
        [payload_field, ("version", int | None, None)],
        forbid_unknown_fields=True,
        kw_only=True,
    )

    async def handler(actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID], data: Any) -> CaseOut:
        command = lifecycle.Command(action=action, payload=data.payload)
        await cases.act(case_id, command, actor, base_version=data.version)
        return await _visible_case(case_id, actor)

    handler.__annotations__ = {
        "actor": NamedDependency[Actor],
        "case_id": FromPath[uuid.UUID],
        "data": JSONBody[body_type],
        "return": CaseOut,
    }
    handler.__name__ = f"case_{action}"
    return post(
        f"/cases/{{case_id:uuid}}/{action.replace('_', '-')}",
        operation_id=f"case{name}",
        status_code=200,
        tags=["case transitions"],
        responses=ERROR_RESPONSES,
        summary=f"{action.replace('_', ' ')} a case",
    )(handler)


TRANSITION_ROUTES = [_transition_handler(action) for action in ACTIONS]
