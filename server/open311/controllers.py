"""Open311 GeoReport v2 at `/open311/v2` for civic apps, and the district admin's civic-app keys.

Every resource is named with its format (`services.json`, `requests/2026-000123.xml`), so a
handler takes the last path segment whole and splits the format off. Errors keep the
specification's own shape, `[{code, description}]` (DESIGN §12), in the format asked for.
No `from __future__ import annotations`: Litestar reads the handlers' annotations at run time.
"""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromPath, JSONBody

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES
from server.cases.intake import LocateCell
from server.http import ERROR_RESPONSES
from server.open311 import service
from server.open311.formats import MEDIA_TYPES, Format, Open311Error, render, split_format
from server.open311.rules import parse_filters, utc_now
from server.settings import Settings

__all__ = ["ApiKeyController", "Open311Controller"]

_ROOTS = {"services": "services", "requests": "service_requests", "tokens": "service_requests"}


def _answer(payload: Any, fmt: Format, root: str, status: int = 200) -> Response[bytes]:
    return Response(render(payload, fmt, root), media_type=MEDIA_TYPES[fmt], status_code=status)


def _format_of(request: Request) -> Format:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _refusal(request: Request, exc: Exception) -> Response[bytes]:
    if isinstance(exc, Open311Error):
        error = exc
    elif isinstance(exc, HTTPException):
        error = Open311Error(exc.status_code if exc.status_code < 500 else 400, str(exc.detail))
    else:
        raise exc
    return _answer(error.records(), _format_of(request), "errors", error.status)


def _query(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getall(key) for key in request.query_params}


class Open311Controller(Controller):
    path = "/open311/v2"
    tags = ["open311"]
    security: list[dict[str, list[str]]] = []
    exception_handlers = {Open311Error: _refusal, HTTPException: _refusal, ValidationException: _refusal}

    @get("/{name:str}", operation_id="open311Resource", summary="discovery, services or requests")
    async def resource(self, request: Request, name: FromPath[str]) -> Response[bytes]:
        """`discovery.{fmt}`, `services.{fmt}` or `requests.{fmt}` (filters in the query)."""
        stem, fmt = split_format(name)
        query = _query(request)
        if stem == "discovery":
            return _answer(_discovery(str(request.base_url)), fmt, "discovery")
        if stem not in ("services", "requests"):
            raise Open311Error(404, f"no resource {name!r}")
        where = await service.jurisdiction((query.get("jurisdiction_id") or [""])[-1].strip())
        if stem == "services":
            return _answer(await service.services(where), fmt, "services")
        return _answer(
            await service.find_requests(where, parse_filters(query, utc_now())), fmt, "service_requests"
        )

    @post(
        "/{name:str}",
        operation_id="open311Submit",
        summary="submit a request (form-encoded)",
        status_code=201,
    )
    async def submit(
        self,
        request: Request,
        name: FromPath[str],
        settings: NamedDependency[Settings],
        locate_cell: NamedDependency[LocateCell],
    ) -> Response[bytes]:
        stem, fmt = split_format(name)
        if stem != "requests":
            raise Open311Error(404, f"no resource {name!r} to post to")
        form = await request.form()
        fields = {key: [str(v) for v in form.getall(key)] for key in form}
        where = await service.jurisdiction((fields.get("jurisdiction_id") or [""])[-1].strip())
        key_id = await service.check_api_key(
            (fields.get("api_key") or [""])[-1].strip(), where, settings.open311_requests_per_minute
        )
        created = await service.create_request(where, key_id, fields, utc_now(), locate_cell)
        return _answer(created, fmt, "service_requests", 201)

    @get("/services/{name:str}", operation_id="open311Service", summary="a service's definition")
    async def definition(self, request: Request, name: FromPath[str]) -> Response[bytes]:
        code, fmt = split_format(name)
        where = await service.jurisdiction((_query(request).get("jurisdiction_id") or [""])[-1].strip())
        return _answer(await service.service_definition(where, code), fmt, "service_definition")

    @get("/requests/{name:str}", operation_id="open311Request", summary="one request by its id")
    async def one(self, request: Request, name: FromPath[str]) -> Response[bytes]:
        ticket, fmt = split_format(name)
        where = await service.jurisdiction((_query(request).get("jurisdiction_id") or [""])[-1].strip())
        found = await service.find_requests(where, parse_filters({"service_request_id": [ticket]}, utc_now()))
        if not found:
            raise Open311Error(404, f"no request {ticket!r}")
        return _answer(found, fmt, "service_requests")

    @get("/tokens/{name:str}", operation_id="open311Token", summary="the request a token stands for")
    async def token(self, request: Request, name: FromPath[str]) -> Response[bytes]:
        token, fmt = split_format(name)
        where = await service.jurisdiction((_query(request).get("jurisdiction_id") or [""])[-1].strip())
        return _answer(await service.token_lookup(where, token), fmt, "service_requests")


def _discovery(base_url: str) -> dict[str, Any]:
    url = base_url.rstrip("/") + "/open311/v2"
    return {
        "changeset": "2026-12-02T00:00:00+08:00",
        "contact": "The district complaint office (12345)",
        "key_service": "Ask the district complaint office for an api_key",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": url,
                "changeset": "2026-12-02T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ApiKeyController(Controller):
    """Civic apps' keys, issued by a district admin; the key is shown once and stored hashed."""

    path = "/api-keys"
    tags = ["open311"]

    @post("/", operation_id="issueApiKey", status_code=201, responses=ERROR_RESPONSES)
    async def issue(self, actor: NamedDependency[Actor], data: JSONBody[ApiKeyIn]) -> service.ApiKeyOut:
        require_role(actor, ADMIN_ROLES, "issue civic-app keys")
        return await service.issue_key(actor.district_id, data.name)

    @get("/", operation_id="listApiKeys", responses=ERROR_RESPONSES)
    async def keys(self, actor: NamedDependency[Actor]) -> list[service.ApiKeyOut]:
        require_role(actor, ADMIN_ROLES, "read civic-app keys")
        return await service.list_keys(actor.district_id)

    @delete("/{key_id:int}", operation_id="revokeApiKey", responses=ERROR_RESPONSES)
    async def revoke(self, actor: NamedDependency[Actor], key_id: FromPath[int]) -> None:
        require_role(actor, ADMIN_ROLES, "revoke civic-app keys")
        await service.revoke_key(actor.district_id, key_id)
