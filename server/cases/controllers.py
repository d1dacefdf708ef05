"""The case API (DESIGN §12): register, read with its timeline, list with filters, one endpoint per action.

No `from __future__ import annotations`: Litestar reads the handlers' annotations at run time.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES, REGISTRAR_ROLES
from server.cases import schemas
from server.cases import service as cases
from server.cases.domain import Light, Status
from server.cases.intake import AddressBook, LocateCell, register_case
from server.cases.schemas import (
    CaseAnswer,
    CaseCreate,
    CaseFilter,
    CaseOut,
    CasePage,
    EventPage,
    Registration,
)
from server.http import ERROR_RESPONSES

__all__ = ["CaseController", "CaseTransitionController"]


class CaseController(Controller):
    path = "/cases"
    tags = ["cases"]

    @post("/", operation_id="registerCase", status_code=201, responses=ERROR_RESPONSES)
    async def register(
        self,
        actor: NamedDependency[Actor],
        locate_cell: NamedDependency[LocateCell],
        address_book: NamedDependency[AddressBook],
        data: JSONBody[CaseCreate],
    ) -> CaseAnswer:
        """The case as the caller may now see it; only its receipt when it is out of their scope
        (a grid worker registering outside their cells, an agent accusing their own unit)."""
        require_role(actor, REGISTRAR_ROLES, "register cases")
        who = Registration(district_id=actor.district_id, actor=actor, now=datetime.now(UTC))
        state = await register_case(data, who, locate_cell, address_book)
        return await cases.case_answer(state.id, actor)

    @get("/{case_id:uuid}", operation_id="getCase", responses=ERROR_RESPONSES)
    async def get_case(self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]) -> CaseOut:
        return await cases.visible_case(case_id, actor)

    @get("/{case_id:uuid}/events", operation_id="getCaseEvents", responses=ERROR_RESPONSES)
    async def get_events(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        before_seq: Annotated[
            int | None, QueryParameter(ge=1, le=2**31 - 1, description="events before this one")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> EventPage:
        """The case's timeline page by page, newest page first, each page oldest first."""
        return await cases.case_events(case_id, actor, before_seq, limit)

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
            str | None,
            QueryParameter(max_length=200, description="text in ticket, title, description or address"),
        ] = None,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> CasePage:
        filters = CaseFilter(
            status=status, category_id=category_id, unit_id=unit_id, grid_id=grid_id, light=light, text=q
        )
        return await cases.list_cases(actor, filters, offset, limit)


class CaseTransitionController(Controller):
    """One endpoint per life-cycle action (DESIGN §4); the body is `{version?, payload}`."""

    path = "/cases"
    tags = ["case transitions"]

    @post(
        "/{case_id:uuid}/dispatch",
        operation_id="caseDispatch",
        summary="dispatch a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def dispatch(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.DispatchRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "dispatch", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/answer",
        operation_id="caseAnswer",
        summary="answer a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def answer(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AnswerRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "answer", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/accept",
        operation_id="caseAccept",
        summary="accept a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def accept(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AcceptRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "accept", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/return",
        operation_id="caseReturn",
        summary="return a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def return_(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ReturnRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "return", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/arrive",
        operation_id="caseArrive",
        summary="arrive a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def arrive(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ArriveRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "arrive", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/resolve",
        operation_id="caseResolve",
        summary="resolve a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def resolve(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ResolveRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "resolve", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/review",
        operation_id="caseReview",
        summary="review a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def review(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ReviewRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "review", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/callback",
        operation_id="caseCallback",
        summary="callback a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def callback(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.CallbackRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "callback", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/close",
        operation_id="caseClose",
        summary="close a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def close(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.CloseRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "close", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/reopen",
        operation_id="caseReopen",
        summary="reopen a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def reopen(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ReopenRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "reopen", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/archive",
        operation_id="caseArchive",
        summary="archive a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def archive(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ArchiveRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "archive", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/request-extension",
        operation_id="caseRequestExtension",
        summary="request extension a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def request_extension(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.RequestExtensionRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "request_extension", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/approve-extension",
        operation_id="caseApproveExtension",
        summary="approve extension a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def approve_extension(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ApproveExtensionRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "approve_extension", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/assign",
        operation_id="caseAssign",
        summary="assign a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def assign(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AssignRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "assign", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/note",
        operation_id="caseNote",
        summary="note a case",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def note(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID], data: JSONBody[schemas.NoteRequest]
    ) -> CaseAnswer:
        return await cases.transition(case_id, "note", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/refuse",
        operation_id="caseRefuse",
        summary="refuse a case (不予受理) with a reason the complainant is told",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def refuse(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.RefuseRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "refuse", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/refer",
        operation_id="caseRefer",
        summary="record a case as referred (emergency number, discipline body, petitions office)",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def refer(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ReferRequest],
    ) -> CaseAnswer:
        return await cases.transition(case_id, "refer", data.payload, actor, data.version)

    @post(
        "/{case_id:uuid}/supervise",
        operation_id="caseSupervise",
        summary="supervise a case (督办)",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def supervise(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SuperviseRequest],
    ) -> CaseOut:
        require_role(actor, ADMIN_ROLES, "supervise cases")
        await cases.supervise(case_id, actor, data.payload.note, data.version)
        return await cases.visible_case(case_id, actor)
