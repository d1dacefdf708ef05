"""GeoReport v2's rules over plain values: reading a civic app's request, the filters of a search,
and what the public may see of a case. Pure: no HTTP, no SQL.

What the public never sees (issue 15, DESIGN §3): a complainant's name, phone or e-mail; an
accusation at all (the queries leave `report` cases out); internal notes or staff names. A case's
description is shown only when the citizen wrote it for the public (Open311, web, the citizen app);
what an agent typed from a phone call may name people, so it stays inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from server.open311.formats import Open311Error

__all__ = [
    "PUBLIC_TEXT_CHANNELS",
    "Attribute",
    "NewRequest",
    "RequestFilters",
    "parse_filters",
    "parse_new_request",
    "public_record",
]

PUBLIC_TEXT_CHANNELS = frozenset({"open311", "web", "app"})
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
_CLOSED = frozenset({"closed", "archived"})
_NOTES = {
    "registered": "Received; it is being routed to the unit responsible.",
    "dispatched": "Sent to the unit responsible.",
    "accepted": "Accepted by the unit responsible.",
    "on_site": "Staff are on site.",
    "resolved": "The unit reports it done; the office is checking.",
    "reviewed": "Checked by the office.",
    "called_back": "The complainant was asked about the result.",
    "closed": "Closed.",
    "archived": "Closed.",
}
_TEXT_LIMITS = {
    "description": 4000,
    "address_string": 200,
    "email": 200,
    "media_url": 2000,
    "device_id": 200,
    "account_id": 200,
    "first_name": 50,
    "last_name": 50,
    "phone": 32,
}


class Attribute(msgspec.Struct, frozen=True, kw_only=True):
    """One attribute of a service definition, as a district declares it for a category."""

    code: str
    datatype: str = "string"  # string, number, datetime, text, singlevaluelist, multivaluelist
    required: bool = False
    variable: bool = True
    description: str = ""
    datatype_description: str = ""
    order: int = 0
    values: tuple[tuple[str, str], ...] = ()  # (key, name) of a list's choices


class NewRequest(msgspec.Struct, frozen=True, kw_only=True):
    service_code: str
    lat: float | None = None
    lon: float | None = None
    address_string: str = ""
    description: str = ""
    media_url: str = ""
    email: str = ""
    phone: str = ""
    name: str = ""
    device_id: str = ""
    account_id: str = ""
    attributes: dict[str, Any] = {}


class RequestFilters(msgspec.Struct, frozen=True, kw_only=True):
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    page: int = 1
    page_size: int = MAX_RESULTS


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    """A field's value; an empty one is absent (the specification's rule), NUL is refused."""
    values = form.get(name) or ()
    value = values[-1].strip() if values else ""
    if "\x00" in value:
        raise Open311Error(400, f"{name} holds a NUL character")
    limit = _TEXT_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise Open311Error(400, f"{name} is longer than {limit} characters")
    return value


def _coordinate(form: Mapping[str, Sequence[str]], name: str, bound: float) -> float | None:
    text = _one(form, name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number in decimal degrees") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, f"{name} must lie between -{bound:g} and {bound:g}")
    return value


def _attribute_value(attribute: Attribute, raw: list[str]) -> Any:
    if attribute.datatype == "multivaluelist":
        keys = {k for k, _ in attribute.values}
        if any(v not in keys for v in raw):
            raise Open311Error(400, f"attribute[{attribute.code}] takes only {sorted(keys)}")
        return raw
    value = raw[-1]
    if attribute.datatype == "number":
        try:
            return float(value)
        except ValueError:
            raise Open311Error(400, f"attribute[{attribute.code}] must be a number") from None
    if attribute.datatype == "datetime":
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            raise Open311Error(400, f"attribute[{attribute.code}] must be an ISO 8601 datetime") from None
    if attribute.datatype == "singlevaluelist" and value not in {k for k, _ in attribute.values}:
        raise Open311Error(
            400, f"attribute[{attribute.code}] takes one of {[k for k, _ in attribute.values]}"
        )
    if len(value) > 4000 or "\x00" in value:
        raise Open311Error(400, f"attribute[{attribute.code}] is too long or holds a NUL character")
    return value


def _attributes(form: Mapping[str, Sequence[str]], declared: Sequence[Attribute]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in declared:
        raw = [
            v
            for key in (f"attribute[{attribute.code}]", f"attribute[{attribute.code}][]")
            for v in form.get(key) or ()
            if v.strip()
        ]
        if raw:
            values[attribute.code] = _attribute_value(attribute, raw)
        elif attribute.required:
            raise Open311Error(400, f"attribute[{attribute.code}] is required for this service")
    return values


def parse_new_request(form: Mapping[str, Sequence[str]], declared: Sequence[Attribute]) -> NewRequest:
    """A `POST requests` form, checked: a location (lat/long or address_string), a valid contact."""
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "send lat and long together")
    address = _one(form, "address_string")
    if lat is None and not address:
        if _one(form, "address_id"):
            raise Open311Error(400, "address_id is not known here: send lat and long, or address_string")
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    phone = _one(form, "phone")
    if phone and not all(c.isdigit() or c in "+- " for c in phone):
        raise Open311Error(400, "phone may hold only digits, spaces, + and -")
    media_url = _one(form, "media_url")
    if media_url and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http or https URL")
    email = _one(form, "email")
    if email and "@" not in email:
        raise Open311Error(400, "email is not an e-mail address")
    name = " ".join(p for p in (_one(form, "first_name"), _one(form, "last_name")) if p)
    return NewRequest(
        service_code=_one(form, "service_code"),
        lat=lat,
        lon=lon,
        address_string=address,
        description=_one(form, "description"),
        media_url=media_url,
        email=email,
        phone=phone,
        name=name,
        device_id=_one(form, "device_id"),
        account_id=_one(form, "account_id"),
        attributes=_attributes(form, declared),
    )


def _instant(query: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    text = _one(query, name)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 datetime") from None
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} must carry its time zone (e.g. +08:00 or Z)")
    return value


def _page_number(query: Mapping[str, Sequence[str]], name: str, default: int, top: int) -> int:
    text = _one(query, name)
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= top:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {top}")
    return int(text)


def _listed(query: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in _one(query, name).split(",") if p.strip()))


def parse_filters(query: Mapping[str, Sequence[str]], now: datetime) -> RequestFilters:
    """`GET requests`: `service_request_id` (a comma list) overrides every other filter; without
    dates the last 90 days; at most 1,000 requests a page (`page`, `page_size` extend the spec)."""
    page = _page_number(query, "page", 1, 1_000_000)
    size = _page_number(query, "page_size", MAX_RESULTS, MAX_RESULTS)
    ids = _listed(query, "service_request_id")
    if ids:
        return RequestFilters(ids=ids[:MAX_RESULTS], page=page, page_size=size)
    statuses = _listed(query, "status")
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status is open, closed, or both as a comma list")
    start, end = _instant(query, "start_date"), _instant(query, "end_date")
    if start is None and end is None:
        start = now - timedelta(days=DEFAULT_DAYS)
    if start is not None and end is not None and end < start:
        raise Open311Error(400, "end_date is before start_date")
    return RequestFilters(
        service_codes=_listed(query, "service_code"),
        start=start,
        end=end,
        statuses=statuses,
        page=page,
        page_size=size,
    )


def open_or_closed(status: str) -> str:
    return "closed" if status in _CLOSED else "open"


def public_record(row: Mapping[str, Any], tz: str) -> dict[str, Any]:
    """A case as GeoReport v2's `request`: never a complainant's identity, a note or a staff name."""
    zone = ZoneInfo(tz)

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(zone) if value is not None else None

    return {
        "service_request_id": row["ticket"],
        "status": open_or_closed(row["status"]),
        "status_notes": _NOTES.get(row["status"], ""),
        "service_name": row["service_name"] or "",
        "service_code": row["service_code"] or "",
        "description": row["description"] if row["channel"] in PUBLIC_TEXT_CHANNELS else "",
        "agency_responsible": row["agency_responsible"] or "",
        "service_notice": "",
        "requested_datetime": local(row["registered_at"]),
        "updated_datetime": local(row["updated_at"]),
        "expected_datetime": local(row["due_at"]),
        "address": row["address"] or "",
        "address_id": "",
        "zipcode": "",
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": row["media_url"] or "",
    }


def utc_now() -> datetime:
    return datetime.now(UTC)
