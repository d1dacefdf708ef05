"""GeoReport v2's queries: jurisdictions, services, civic apps' keys and their rate, requests as cases.

A request becomes a case on channel `open311` through the one intake (`server.cases.intake`), so it
is numbered from the district's one ticket sequence and routed like any other; its
`service_request_id` is that ticket. What a case has no column for (e-mail, media URL, device and
account ids, attribute values, the lookup token) is kept in `open311_requests`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from server.cases.intake import LocateCell, register_case
from server.cases.schemas import CaseCreate, Registration
from server.db import fetch, transaction
from server.errors import DomainError
from server.open311.formats import Open311Error
from server.open311.rules import Attribute, NewRequest, RequestFilters, parse_new_request, public_record
from server.ratelimit import within_rate

__all__ = [
    "ApiKeyOut",
    "Jurisdiction",
    "check_api_key",
    "create_request",
    "find_requests",
    "issue_key",
    "jurisdiction",
    "list_keys",
    "revoke_key",
    "service_definition",
    "services",
    "token_lookup",
]

_ATTRIBUTES = msgspec.json.Decoder(list[Attribute])


class Jurisdiction(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    timezone: str


class ApiKeyOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    active: bool
    # Shown once, when the key is issued; only its SHA-256 is stored.
    key: str | None = None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def jurisdiction(jurisdiction_id: str) -> Jurisdiction:
    """The district a request speaks of: `jurisdiction_id` is its code; with one district, optional."""
    if jurisdiction_id:
        rows = await fetch("SELECT id, code, name, timezone FROM districts WHERE code = {}", jurisdiction_id)
        if not rows:
            raise Open311Error(404, f"no jurisdiction {jurisdiction_id!r}")
    else:
        rows = await fetch("SELECT id, code, name, timezone FROM districts ORDER BY id LIMIT 2")
        if len(rows) != 1:
            raise Open311Error(400, "jurisdiction_id is required: this server serves several districts")
    return Jurisdiction(rows[0]["id"], rows[0]["code"], rows[0]["name"], rows[0]["timezone"])


async def check_api_key(key: str, where: Jurisdiction, per_minute: int) -> int:
    """The key's id when it is active and the district's, within its rate; 403 or 429 otherwise."""
    if not key:
        raise Open311Error(403, "api_key is required to submit a request")
    rows = await fetch(
        "SELECT id FROM api_keys WHERE key_hash = {} AND active AND district_id = {}", _hash(key), where.id
    )
    if not rows:
        raise Open311Error(403, "api_key is not valid for this jurisdiction")
    key_id: int = rows[0]["id"]
    if not await within_rate(f"api_key:{key_id}", per_minute):
        raise Open311Error(429, f"more than {per_minute} requests a minute with this api_key; wait a minute")
    return key_id


async def _categories(district_id: int, code: str | None = None) -> list[dict[str, Any]]:
    return await fetch(
        "SELECT id, code, name, name_zh, description, keywords, service_group, "
        "attributes::text AS attributes "
        "FROM categories WHERE district_id = {} AND active AND ({}::text IS NULL OR code = {}) ORDER BY code",
        district_id,
        code,
        code,
    )


def _service(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "service_code": row["code"],
        "service_name": row["name"],
        "description": row["description"] or row["name_zh"],
        "metadata": bool(_ATTRIBUTES.decode(row["attributes"])),
        "type": "realtime",
        "keywords": row["keywords"],
        "group": row["service_group"],
    }


async def services(where: Jurisdiction) -> list[dict[str, Any]]:
    return [_service(r) for r in await _categories(where.id)]


async def service_definition(where: Jurisdiction, code: str) -> dict[str, Any]:
    rows = await _categories(where.id, code)
    if not rows:
        raise Open311Error(404, f"no service {code!r} in this jurisdiction")
    attributes = sorted(_ATTRIBUTES.decode(rows[0]["attributes"]), key=lambda a: (a.order, a.code))
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
                "values": [{"key": k, "name": n} for k, n in a.values],
            }
            for a in attributes
        ],
    }


def _case_body(new: NewRequest, category_id: int, service_name: str) -> CaseCreate:
    return CaseCreate(
        type="complaint",
        channel="open311",
        category_id=category_id,
        description=new.description or service_name,
        address=new.address_string,
        lat=new.lat,
        lon=new.lon,
        complainant_name=new.name,
        complainant_phone=new.phone,
        anonymous=not (new.name or new.phone or new.email),
    )


async def create_request(
    where: Jurisdiction, key_id: int, form: Mapping[str, Sequence[str]], now: datetime, locate: LocateCell
) -> list[dict[str, Any]]:
    """`POST requests`: the case, numbered and routed like any other; answers its ticket and token."""
    code = form.get("service_code") or ()
    rows = await _categories(where.id, code[-1].strip()) if code and code[-1].strip() else []
    if not rows:
        raise Open311Error(400, "service_code is missing or not a service of this jurisdiction")
    new = parse_new_request(form, _ATTRIBUTES.decode(rows[0]["attributes"]))
    token = secrets.token_urlsafe(16)
    try:
        async with transaction():
            state = await register_case(
                _case_body(new, rows[0]["id"], rows[0]["name"]),
                Registration(district_id=where.id, actor=None, now=now),
                locate,
            )
            await fetch(
                "INSERT INTO open311_requests (case_id, district_id, api_key_id, token, email, media_url, "
                "device_id, account_id, attributes) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb)",
                state.id,
                where.id,
                key_id,
                token,
                new.email,
                new.media_url,
                new.device_id,
                new.account_id,
                msgspec.json.encode(new.attributes).decode(),
            )
    except DomainError as exc:
        raise Open311Error(400, exc.message) from None
    return [
        {
            "service_request_id": state.ticket,
            "token": token,
            "service_notice": "",
            "account_id": new.account_id,
        }
    ]


_REQUESTS = (
    "SELECT c.ticket, c.status, c.channel, c.description, c.address, c.lat, c.lon, c.registered_at, "
    "c.updated_at, c.due_at, cat.code AS service_code, cat.name AS service_name, "
    "u.name AS agency_responsible, o.media_url "
    "FROM cases c LEFT JOIN categories cat ON cat.id = c.category_id "
    "LEFT JOIN units u ON u.id = c.lead_unit_id LEFT JOIN open311_requests o ON o.case_id = c.id "
    # An accusation is never public, by any path (DESIGN §3).
    "WHERE c.district_id = {} AND c.type <> 'report' AND "
)


def _filter_sql(filters: RequestFilters) -> tuple[str, list[Any]]:
    if filters.ids:
        return "c.ticket = ANY({}::varchar[])", [list(filters.ids)]
    where: list[str] = ["true"]
    args: list[Any] = []
    if filters.service_codes:
        where.append("cat.code = ANY({}::varchar[])")
        args.append(list(filters.service_codes))
    if filters.start is not None:
        where.append("c.registered_at >= {}")
        args.append(filters.start)
    if filters.end is not None:
        where.append("c.registered_at <= {}")
        args.append(filters.end)
    if set(filters.statuses) == {"open"}:
        where.append("c.status NOT IN ('closed', 'archived')")
    elif set(filters.statuses) == {"closed"}:
        where.append("c.status IN ('closed', 'archived')")
    return " AND ".join(where), args


async def find_requests(where: Jurisdiction, filters: RequestFilters) -> list[dict[str, Any]]:
    clause, args = _filter_sql(filters)
    rows = await fetch(
        _REQUESTS + clause + " ORDER BY c.registered_at DESC, c.id OFFSET {} LIMIT {}",
        where.id,
        *args,
        (filters.page - 1) * filters.page_size,
        filters.page_size,
    )
    return [public_record(r, where.timezone) for r in rows]


async def token_lookup(where: Jurisdiction, token: str) -> list[dict[str, Any]]:
    rows = await fetch(
        "SELECT c.ticket FROM open311_requests o JOIN cases c ON c.id = o.case_id "
        "WHERE o.token = {} AND o.district_id = {}",
        token,
        where.id,
    )
    if not rows:
        raise Open311Error(404, "no request with this token")
    return [{"service_request_id": rows[0]["ticket"], "token": token}]


async def issue_key(district_id: int, name: str) -> ApiKeyOut:
    key = secrets.token_urlsafe(24)
    rows = await fetch(
        "INSERT INTO api_keys (district_id, name, key_hash, active) VALUES ({}, {}, {}, true) RETURNING id",
        district_id,
        name,
        _hash(key),
    )
    return ApiKeyOut(id=rows[0]["id"], name=name, active=True, key=key)


async def list_keys(district_id: int) -> list[ApiKeyOut]:
    rows = await fetch(
        "SELECT id, name, active FROM api_keys WHERE district_id = {} ORDER BY id", district_id
    )
    return [ApiKeyOut(id=r["id"], name=r["name"], active=r["active"]) for r in rows]


async def revoke_key(district_id: int, key_id: int) -> None:
    rows = await fetch(
        "UPDATE api_keys SET active = false WHERE id = {} AND district_id = {} RETURNING id",
        key_id,
        district_id,
    )
    if not rows:
        raise DomainError("api_key_not_found", f"no api key {key_id} in this district", "key_id", 404)
