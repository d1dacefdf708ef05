"""The citizens' side of a case: web reports, tracking, rating, and the office's marks on callers.

A web report is registered through the one intake (`server.cases.intake`) on channel `web`, so it
is numbered from the district's one ticket sequence; a rating is the life cycle's `callback`
through the one write path (`server.cases.service.act`). Tracking answers the same 404 for an
unknown ticket and a wrong code, and counts every attempt per client and per ticket before it
looks, so that neither the answer nor the limit tells whether a ticket exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from server.accounts.domain import Actor
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import DescriptionText
from server.cases.intake import AddressBook, LocateCell, register_case
from server.cases.schemas import CaseCreate, Latitude, Longitude, Registration
from server.citizens.rules import (
    Credentials,
    RatingIn,
    TrackOut,
    callback_for,
    check_credentials,
    check_ticket,
    public_timeline,
    result_of,
)
from server.db import fetch
from server.errors import DomainError, RetryLater
from server.ratelimit import within_rate

__all__ = [
    "AbusiveMark",
    "CategoryOut",
    "CitizenFigures",
    "MarkIn",
    "ReportIn",
    "Receipt",
    "categories",
    "figures",
    "lift_mark",
    "mark_abusive",
    "marks_for",
    "rate",
    "report",
    "resolve_district",
    "track",
]

Phone = Annotated[str, msgspec.Meta(min_length=4, max_length=32, pattern=r"^[0-9+\- ]+$")]


class ReportIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the /report page sends: a point (the phone's GPS) or a typed address, or both."""

    category_id: int
    description: DescriptionText
    lat: Latitude | None = None
    lon: Longitude | None = None
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+\- ]*$")] = ""
    anonymous: bool = False


class Receipt(msgspec.Struct, kw_only=True):
    """What the reporter keeps: with the lookup code the case can be tracked at /track."""

    ticket: str
    lookup_code: str


class CategoryOut(msgspec.Struct, kw_only=True):
    id: int
    name: str


class MarkIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    phone: Phone
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class AbusiveMark(msgspec.Struct, kw_only=True):
    id: int
    phone: str
    reason: str
    marked_at: datetime


class CitizenFigures(msgspec.Struct, kw_only=True):
    """Counted for the district (issue 15 item 8): refusals, referrals, callers marked abusive."""

    refused: int
    referred: int
    marked_abusive: int


def _not_found() -> DomainError:
    # The same words for an unknown ticket, a wrong code and an accusation.
    return DomainError("not_found", "no case with this ticket and code", "code", 404)


async def resolve_district(code: str | None) -> int:
    """The district a public request speaks of: its code; with one district, optional."""
    if code:
        rows = await fetch("SELECT id FROM districts WHERE code = {}", code)
    else:
        rows = await fetch("SELECT id FROM districts ORDER BY id LIMIT 2")
        if len(rows) > 1:
            raise DomainError(
                "district_required", "name the district: this server serves several", "district", 422
            )
    if len(rows) != 1:
        raise DomainError("unknown_district", "no such district", "district", 404)
    return int(rows[0]["id"])


async def _throttle(client: str, scope: str, per_minute: int) -> None:
    if not await within_rate(f"citizens:{scope}:{client}", per_minute):
        raise RetryLater("rate_limited", f"more than {per_minute} attempts a minute; wait a minute", 60)


async def categories(district_id: int) -> list[CategoryOut]:
    rows = await fetch(
        "SELECT id, coalesce(nullif(name_zh, ''), name) AS name FROM categories "
        "WHERE district_id = {} AND active ORDER BY code",
        district_id,
    )
    return [CategoryOut(id=r["id"], name=r["name"]) for r in rows]


async def report(
    district_id: int,
    body: ReportIn,
    client: str,
    per_minute: int,
    locate: LocateCell,
    addresses: AddressBook,
) -> Receipt:
    """A citizen's own report from the /report page: a complaint on channel `web`."""
    await _throttle(client, "report", per_minute)
    anonymous = body.anonymous or not body.phone.strip()
    case = CaseCreate(
        type="complaint",
        channel="web",
        category_id=body.category_id,
        description=body.description,
        address=body.address,
        lat=body.lat,
        lon=body.lon,
        complainant_name="" if anonymous else body.name,
        complainant_phone="" if anonymous else body.phone,
        anonymous=anonymous,
    )
    state = await register_case(
        case, Registration(district_id=district_id, actor=None, now=datetime.now(UTC)), locate, addresses
    )
    rows = await fetch("SELECT lookup_code FROM cases WHERE id = {}", state.id)
    return Receipt(ticket=state.ticket, lookup_code=rows[0]["lookup_code"])


# The case a ticket and its credentials open: never an accusation (DESIGN §3).
_FIND = (
    "SELECT c.*, coalesce(nullif(cat.name_zh, ''), cat.name) AS category_name, u.name AS unit_name, "
    "coalesce((SELECT json_agg(json_build_object('action', e.action, 'to_status', e.to_status, "
    "'note', e.note, 'data', e.data, 'at', e.at) ORDER BY e.seq) FROM case_events e "
    "WHERE e.case_id = c.id), '[]')::text AS events_json "
    "FROM cases c LEFT JOIN categories cat ON cat.id = c.category_id "
    "LEFT JOIN units u ON u.id = c.lead_unit_id "
    "WHERE c.district_id = {} AND c.ticket = {} AND c.type <> 'report' AND ("
    "c.lookup_code = {} OR ({}::text IS NOT NULL AND NOT c.anonymous "
    "AND length(regexp_replace(c.complainant_phone, '[^0-9]', '', 'g')) >= 4 "
    "AND right(regexp_replace(c.complainant_phone, '[^0-9]', '', 'g'), 4) = {}))"
)
_EVENTS = msgspec.json.Decoder(list[dict[str, Any]])


async def _find(
    district_id: int, ticket: str, credentials: Credentials, client: str, limits: tuple[int, int]
) -> dict[str, Any]:
    check_ticket(ticket)
    check_credentials(credentials)
    per_client, per_ticket = limits
    # Counted before looking: a limit reached says nothing about the ticket.
    await _throttle(client, "track-client", per_client)
    await _throttle(f"{district_id}:{ticket}", "track-ticket", per_ticket)
    last4 = credentials.phone_last4
    rows = await fetch(_FIND, district_id, ticket, credentials.code, last4, last4)
    if not rows:
        raise _not_found()
    return rows[0]


def _track_out(row: dict[str, Any]) -> TrackOut:
    state = cases.state_from_row(row)
    events = _EVENTS.decode(row["events_json"])
    for e in events:
        e["at"] = msgspec.convert(e["at"], datetime)
    timeline = public_timeline(events)
    return TrackOut(
        ticket=state.ticket,
        status=state.status,
        category=row["category_name"],
        unit=row["unit_name"],
        registered_at=row["registered_at"],
        due_at=state.due_at,
        resolved_at=state.resolved_at,
        closed_at=state.closed_at,
        result=result_of({"resolved_at": state.resolved_at}, timeline),
        timeline=timeline,
        can_rate=state.status == "reviewed" and state.has_contact,
        satisfaction=state.satisfaction,
    )


async def track(
    district_id: int, ticket: str, credentials: Credentials, client: str, limits: tuple[int, int]
) -> TrackOut:
    """Status, public timeline, unit, deadline and result of the case, to its complainant."""
    return _track_out(await _find(district_id, ticket, credentials, client, limits))


def _office(district_id: int) -> Actor:
    # The complaint office acting for the complainant: a rating obeys exactly the callback's rules.
    return Actor(user_id=0, role="agent", district_id=district_id)


async def rate(
    district_id: int, ticket: str, rating: RatingIn, client: str, limits: tuple[int, int]
) -> TrackOut:
    """The complainant's rating, recorded as the callback of DESIGN §4 and §8."""
    row = await _find(district_id, ticket, rating, client, limits)
    if row["status"] != "reviewed":
        if cases.state_from_row(row).satisfaction is not None:
            raise DomainError("already_rated", "this case has been rated already", "satisfaction", 409)
        raise DomainError("not_ratable", "a case can be rated once it is resolved and reviewed", status=409)
    command = lifecycle.Command(action="callback", payload=callback_for(rating))
    try:
        await cases.act(
            row["id"], command, _office(district_id), base_version=row["version"], by_complainant=True
        )
    except DomainError as exc:
        if exc.code in ("stale_version", "invalid_transition"):
            raise DomainError(
                "already_rated", "this case has been rated already", "satisfaction", 409
            ) from None
        raise
    return await track(district_id, ticket, rating, client, limits)


async def mark_abusive(actor: Actor, mark: MarkIn) -> AbusiveMark:
    rows = await fetch(
        "INSERT INTO abusive_complainants (district_id, phone, reason, marked_by) VALUES ({}, {}, {}, {}) "
        "ON CONFLICT (district_id, phone) WHERE lifted_at IS NULL DO NOTHING "
        "RETURNING id, phone, reason, marked_at",
        actor.district_id,
        mark.phone.strip(),
        mark.reason,
        actor.user_id,
    )
    if not rows:
        raise DomainError("already_marked", "this phone is marked already", "phone", 409)
    return AbusiveMark(**rows[0])


async def lift_mark(actor: Actor, mark_id: int) -> None:
    rows = await fetch(
        "UPDATE abusive_complainants SET lifted_at = now() WHERE id = {} AND district_id = {} "
        "AND lifted_at IS NULL RETURNING id",
        mark_id,
        actor.district_id,
    )
    if not rows:
        raise DomainError("mark_not_found", f"no standing mark {mark_id}", "mark_id", 404)


async def marks_for(actor: Actor, phone: str | None) -> list[AbusiveMark]:
    """The standing marks of the district, or of one phone: what intake staff see before acting."""
    rows = await fetch(
        "SELECT id, phone, reason, marked_at FROM abusive_complainants WHERE district_id = {} "
        "AND lifted_at IS NULL AND ({}::text IS NULL OR phone = {}) ORDER BY marked_at DESC LIMIT 500",
        actor.district_id,
        phone,
        phone,
    )
    return [AbusiveMark(**r) for r in rows]


async def figures(actor: Actor) -> CitizenFigures:
    rows = await fetch(
        "SELECT (SELECT count(*) FROM case_events WHERE district_id = {} AND action = 'refuse') AS refused, "
        "(SELECT count(*) FROM case_events WHERE district_id = {} AND action = 'refer') AS referred, "
        "(SELECT count(*) FROM abusive_complainants WHERE district_id = {}) AS marked_abusive",
        actor.district_id,
        actor.district_id,
        actor.district_id,
    )
    return CitizenFigures(**rows[0])
