"""The citizens' side of a case: web reports, tracking, rating, and the office's marks on callers.

A web report is registered through the one intake (`server.cases.intake`) on channel `web`, so it
is numbered from the district's one ticket sequence; a rating is the life cycle's `callback`
through the one write path (`server.cases.service.act`). Tracking answers the same 404 for an
unknown ticket and a wrong code, and counts every attempt per client and per ticket before it
looks, so that neither the answer nor the limit tells whether a ticket exists.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from server.accounts.domain import Actor
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import OPEN_STATUSES, DescriptionText
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
from server.db import fetch, transaction
from server.errors import DomainError, RetryLater
from server.photos.slots import PhotoAnnounced, receive_for_case
from server.photos.storage import PhotoStore
from server.ratelimit import within_rate

__all__ = [
    "AbusiveMark",
    "CategoryOut",
    "CitizenFigures",
    "MarkIn",
    "PhotoAdded",
    "ReportIn",
    "Receipt",
    "add_photo",
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


class PhotoAdded(msgspec.Struct, kw_only=True):
    photo_id: uuid.UUID


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


def _last4(table: str, column: str) -> str:
    """The last four digits of a complainant's phone equal the argument (none for the anonymous)."""
    digits = f"regexp_replace({table}.{column}, '[^0-9]', '', 'g')"
    return (
        f"({{}}::text IS NOT NULL AND NOT {table}.anonymous AND length({digits}) >= 4 "
        f"AND right({digits}, 4) = {{}})"
    )


# The case a ticket and its credentials open: never an accusation (DESIGN §3). On a joined case
# (`geo.joins`) the credentials also name which complainant is asking (`complainant_id`).
_FIND = (
    "SELECT c.*, coalesce(nullif(cat.name_zh, ''), cat.name) AS category_name, u.name AS unit_name, "
    "coalesce((SELECT json_agg(json_build_object('action', e.action, 'to_status', e.to_status, "
    "'note', e.note, 'data', e.data, 'at', e.at) ORDER BY e.seq) FROM case_events e "
    "WHERE e.case_id = c.id), '[]')::text AS events_json, "
    "m.id AS complainant_id, m.satisfaction AS complainant_satisfaction, m.rated_at AS complainant_rated_at "
    "FROM cases c LEFT JOIN categories cat ON cat.id = c.category_id "
    "LEFT JOIN units u ON u.id = c.lead_unit_id "
    "LEFT JOIN LATERAL (SELECT f.id, f.satisfaction, f.rated_at FROM case_complainants f "
    f"WHERE f.case_id = c.id AND (f.lookup_code = {{}} OR {_last4('f', 'phone')}) ORDER BY f.id LIMIT 1) m "
    "ON true "
    "WHERE c.district_id = {} AND c.ticket = {} AND c.type <> 'report' AND ("
    f"c.lookup_code = {{}} OR {_last4('c', 'complainant_phone')} OR m.id IS NOT NULL)"
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
    code, last4 = credentials.code, credentials.phone_last4
    rows = await fetch(_FIND, code, last4, last4, district_id, ticket, code, last4, last4)
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
        can_rate=_can_rate(row, state.status, state.has_contact),
        satisfaction=row["complainant_satisfaction"] if _joined(row) else state.satisfaction,
    )


def _joined(row: dict[str, Any]) -> bool:
    """The asker is one of the complainants of a joined case, each of whom rates it."""
    return row["complainant_id"] is not None


def _can_rate(row: dict[str, Any], status: str, has_contact: bool) -> bool:
    if not _joined(row):
        return status == "reviewed" and has_contact
    return row["complainant_rated_at"] is None and status in _RATABLE


async def track(
    district_id: int, ticket: str, credentials: Credentials, client: str, limits: tuple[int, int]
) -> TrackOut:
    """Status, public timeline, unit, deadline and result of the case, to its complainant."""
    return _track_out(await _find(district_id, ticket, credentials, client, limits))


def _office(district_id: int) -> Actor:
    # The complaint office acting for the complainant: a rating obeys exactly the callback's rules.
    return Actor(user_id=0, role="agent", district_id=district_id)


# A joined case's complainants rate it once it is reviewed; the first rating is its callback, the
# others are recorded beside it (and read by the office) while it is called back or closed.
_RATABLE = frozenset({"reviewed", "called_back", "closed"})


def _already_rated() -> DomainError:
    return DomainError("already_rated", "this case has been rated already", "satisfaction", 409)


async def rate(
    district_id: int, ticket: str, rating: RatingIn, client: str, limits: tuple[int, int]
) -> TrackOut:
    """The complainant's rating, recorded as the callback of DESIGN §4 and §8; on a joined case
    each complainant's rating is kept, the first one while the case awaits it being its callback."""
    row = await _find(district_id, ticket, rating, client, limits)
    async with transaction():
        if _joined(row):
            await _keep_rating(row, rating)
        if row["status"] == "reviewed":
            await _callback(row, district_id, rating)
        elif _joined(row) and row["status"] in _RATABLE:
            await cases.amend(
                row["id"],
                _office(district_id),
                "rating",
                {},
                data={"satisfaction": rating.satisfaction, "solved": rating.solved},
                note=rating.comment,
                by_complainant=True,
            )
        elif cases.state_from_row(row).satisfaction is not None:
            raise _already_rated()
        else:
            raise DomainError(
                "not_ratable", "a case can be rated once it is resolved and reviewed", status=409
            )
    return await track(district_id, ticket, rating, client, limits)


async def _keep_rating(row: dict[str, Any], rating: RatingIn) -> None:
    """The complainant's own rating on their row, once: a second one (or a racing copy) is refused."""
    kept = await fetch(
        "UPDATE case_complainants SET satisfaction = {}, solved = {}, comment = {}, rated_at = now() "
        "WHERE id = {} AND rated_at IS NULL RETURNING id",
        rating.satisfaction,
        rating.solved,
        rating.comment,
        row["complainant_id"],
    )
    if not kept:
        raise _already_rated()


async def _callback(row: dict[str, Any], district_id: int, rating: RatingIn) -> None:
    command = lifecycle.Command(action="callback", payload=callback_for(rating))
    try:
        await cases.act(
            row["id"], command, _office(district_id), base_version=row["version"], by_complainant=True
        )
    except DomainError as exc:
        if exc.code in ("stale_version", "invalid_transition"):
            raise _already_rated() from None
        raise


# A citizen adds at most this many photos to their report (issue 15 item 3).
REPORT_PHOTOS = 3


async def add_photo(
    district_id: int,
    ticket: str,
    credentials: Credentials,
    announced: PhotoAnnounced,
    upload: tuple[AsyncIterable[bytes], PhotoStore, int],
    client: str,
    limits: tuple[int, int],
) -> PhotoAdded:
    """A photo of the complainant's own open case, sent from the /report page with the receipt's
    lookup code; staff see it with the case's photos."""
    row = await _find(district_id, ticket, credentials, client, limits)
    if row["status"] not in OPEN_STATUSES:
        raise DomainError("case_not_open", "photos are added to a case while it is open", "ticket", 409)
    photo_id = await receive_for_case(row, announced, upload, REPORT_PHOTOS)
    return PhotoAdded(photo_id=photo_id)


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
