"""The citizens' pages and endpoints: /report and /track, tracking, rating; the office's marks on callers.

The pages are plain HTML with their script inline: they load nothing from outside.
No `from __future__ import annotations`: Litestar reads the handlers' annotations at run time.
"""

from pathlib import Path
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES, INTAKE_ROLES
from server.cases.intake import AddressBook, LocateCell
from server.citizens import service
from server.citizens.rules import RatingIn, TrackOut, parse_credentials
from server.citizens.service import (
    AbusiveMark,
    CategoryOut,
    CitizenFigures,
    MarkIn,
    PhotoAdded,
    Receipt,
    ReportIn,
)
from server.errors import DomainError
from server.http import ERROR_RESPONSES
from server.photos.slots import PhotoAnnounced
from server.photos.storage import PhotoStore
from server.settings import Settings

__all__ = ["ComplainantController", "ReportController", "TrackController"]

_PAGES = Path(__file__).parent / "pages"
District = Annotated[
    str | None, QueryParameter(max_length=64, description="district code; optional with one")
]
# No public answer may be cached by a shared proxy: it is one complainant's case.
_PRIVATE = {"Cache-Control": "no-store"}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limits(settings: Settings) -> tuple[int, int]:
    return settings.track_per_client_per_minute, settings.track_per_ticket_per_minute


def _page(name: str) -> Response[bytes]:
    return Response(
        (_PAGES / name).read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self'; "
            "style-src 'unsafe-inline' 'self'; img-src 'self' data: blob:"
        },
    )


class ReportController(Controller):
    path = "/report"
    tags = ["citizens"]
    security: list[dict[str, list[str]]] = []

    @get("/", operation_id="reportPage", include_in_schema=False)
    async def page(self) -> Response[bytes]:
        return _page("report.html")

    @get("/categories", operation_id="reportCategories", responses=ERROR_RESPONSES)
    async def categories(self, district: District = None) -> list[CategoryOut]:
        return await service.categories(await service.resolve_district(district))

    @post("/", operation_id="submitReport", status_code=201, responses=ERROR_RESPONSES)
    async def submit(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        locate_cell: NamedDependency[LocateCell],
        address_book: NamedDependency[AddressBook],
        data: JSONBody[ReportIn],
        district: District = None,
    ) -> Receipt:
        """A citizen's report on channel `web`: its ticket and the lookup code for /track."""
        district_id = await service.resolve_district(district)
        return await service.report(
            district_id, data, _client(request), settings.report_per_minute, locate_cell, address_book
        )

    @put(
        "/{ticket:str}/photos",
        operation_id="addReportPhoto",
        status_code=201,
        responses=ERROR_RESPONSES,
        request_max_body_size=None,
    )
    async def add_photo(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        photo_store: NamedDependency[PhotoStore],
        ticket: FromPath[str],
        code: Annotated[str, QueryParameter(max_length=8, description="lookup code of the receipt")],
        sha256: Annotated[str, QueryParameter(max_length=64, description="SHA-256 of the bytes, hex")],
        district: District = None,
    ) -> PhotoAdded:
        """One of up to three photos of the reporter's own case: the body is the JPEG or PNG itself,
        checked against `sha256` and its Content-Length, and for being a real image (DESIGN §6)."""
        announced = _announced(request, sha256)
        district_id = await service.resolve_district(district)
        return await service.add_photo(
            district_id,
            ticket,
            parse_credentials(code, None),
            announced,
            (request.stream(), photo_store, settings.photo_max_bytes),
            _client(request),
            _limits(settings),
        )


def _announced(request: Request, sha256: str) -> PhotoAnnounced:
    try:
        return msgspec.convert(
            {
                "sha256": sha256,
                "size": int(request.headers.get("content-length") or 0),
                "content_type": request.headers.get("content-type", "").split(";")[0].strip(),
            },
            PhotoAnnounced,
        )
    except (ValueError, msgspec.ValidationError):
        raise DomainError(
            "invalid_photo",
            "send the photo's bytes with its Content-Length, and its SHA-256 in hex",
            "photo",
            400,
        ) from None


class TrackController(Controller):
    path = "/track"
    tags = ["citizens"]
    security: list[dict[str, list[str]]] = []

    @get("/", operation_id="trackPage", include_in_schema=False)
    async def page(self) -> Response[bytes]:
        return _page("track.html")

    @get("/{ticket:str}", operation_id="trackCase", responses=ERROR_RESPONSES)
    async def track(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        ticket: FromPath[str],
        code: Annotated[
            str | None, QueryParameter(max_length=8, description="lookup code of the receipt")
        ] = None,
        phone_last4: Annotated[str | None, QueryParameter(max_length=4)] = None,
        district: District = None,
    ) -> Response[TrackOut]:
        """The case to its complainant; the same 404 for an unknown ticket and a wrong code."""
        credentials = parse_credentials(code, phone_last4)
        district_id = await service.resolve_district(district)
        out = await service.track(district_id, ticket, credentials, _client(request), _limits(settings))
        return Response(out, headers=_PRIVATE)

    @post("/{ticket:str}/rating", operation_id="rateCase", status_code=200, responses=ERROR_RESPONSES)
    async def rate(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        ticket: FromPath[str],
        data: JSONBody[RatingIn],
        district: District = None,
    ) -> Response[TrackOut]:
        """The complainant's rating, counted as the callback (DESIGN §4, §8)."""
        district_id = await service.resolve_district(district)
        out = await service.rate(district_id, ticket, data, _client(request), _limits(settings))
        return Response(out, headers=_PRIVATE)


class ComplainantController(Controller):
    path = "/complainants"
    tags = ["citizens"]

    @post("/marks", operation_id="markAbusive", status_code=201, responses=ERROR_RESPONSES)
    async def mark(self, actor: NamedDependency[Actor], data: JSONBody[MarkIn]) -> AbusiveMark:
        """A district admin marks a caller's phone as abusive (恶意投诉), with the reason."""
        require_role(actor, ADMIN_ROLES, "mark complainants")
        return await service.mark_abusive(actor, data)

    @get("/marks", operation_id="listAbusiveMarks", responses=ERROR_RESPONSES)
    async def marks(
        self,
        actor: NamedDependency[Actor],
        phone: Annotated[str | None, QueryParameter(max_length=32)] = None,
    ) -> list[AbusiveMark]:
        """The standing marks (of one phone): intake staff see them before registering."""
        require_role(actor, INTAKE_ROLES, "read complainant marks")
        return await service.marks_for(actor, phone)

    @delete(
        "/marks/{mark_id:int}", operation_id="liftAbusiveMark", status_code=204, responses=ERROR_RESPONSES
    )
    async def lift(self, actor: NamedDependency[Actor], mark_id: FromPath[int]) -> None:
        require_role(actor, ADMIN_ROLES, "lift complainant marks")
        await service.lift_mark(actor, mark_id)

    @get("/figures", operation_id="citizenFigures", responses=ERROR_RESPONSES)
    async def figures(self, actor: NamedDependency[Actor]) -> CitizenFigures:
        """Refusals, referrals and abusive marks of the district (issue 15 item 8)."""
        require_role(actor, INTAKE_ROLES, "read these figures")
        return await service.figures(actor)
