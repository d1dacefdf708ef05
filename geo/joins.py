"""Joined reports (一事一单, one problem, one case): a further complainant of an open case.

A report that the repeat rule (DESIGN §9, `geo.repeats`) matches to an open case can join that
case instead of becoming a new one: intake staff do it for a report taken on any channel (phone,
WeChat, letter, visit, or one read from the web, an app, Open311 or a patrol). The join is
refused unless the case is one the report likely repeats: same category within the district's
radius and window, or the same caller at the same place.

Every complainant of a joined case is kept in `case_complainants` (the first one copied there on
the first join) with their own lookup code: each gets the receipt and the closing message
(`notify/`), tracks the case at `/track` and rates it (`server.citizens`). An accusation is never
joined (its reporter's identity and the accused stay apart, DESIGN §3), nor a case of another
district or one the caller may not see; a closed case takes a new report instead.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from geo.repeats import RepeatProbe, likely_repeats
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import INTAKE_ROLES
from server.cases import service as cases
from server.cases.domain import OPEN_STATUSES, CaseState, Channel, DescriptionText
from server.cases.schemas import CaseOut, Latitude, Longitude
from server.db import fetch, transaction
from server.errors import DomainError

__all__ = ["Complainant", "JoinIn", "Joined", "complainants", "join_report"]

_Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+\- ]*$")]


class JoinIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The further complainant's report: where, what, and who (or anonymous)."""

    channel: Channel = "phone"
    description: DescriptionText
    lat: Latitude | None = None
    lon: Longitude | None = None
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    complainant_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    complainant_phone: _Phone = ""
    anonymous: bool = False


class Joined(msgspec.Struct, kw_only=True):
    """The case the report joined, as the caller sees it, and the new complainant's number on it."""

    case: CaseOut | None
    ticket: str
    complainant_id: int
    complainants: int


class Complainant(msgspec.Struct, kw_only=True):
    id: int
    first: bool
    channel: str
    name: str
    phone: str
    anonymous: bool
    description: str
    joined_at: datetime
    satisfaction: str | None
    rated_at: datetime | None


def _probe(state: CaseState, body: JoinIn, now: datetime) -> RepeatProbe:
    return RepeatProbe(
        district_id=state.district_id,
        at=now,
        category_id=state.category_id,
        lat=body.lat,
        lon=body.lon,
        phone="" if body.anonymous else body.complainant_phone,
        address=body.address,
    )


def _check_joinable(state: CaseState) -> None:
    if state.type == "report":
        raise DomainError(
            "accusation_join",
            "an accusation is never joined: register the report as its own case",
            "case_id",
            422,
        )
    if state.status not in OPEN_STATUSES:
        raise DomainError(
            "case_not_open",
            f"a {state.status} case takes no further complainants: register a new case",
            "case_id",
            409,
        )


# The first complainant joins the table on the first join, with the lookup code they were told.
_COPY_FIRST = (
    "INSERT INTO case_complainants (case_id, district_id, first, channel, name, phone, anonymous, "
    "description, lookup_code, joined_at) "
    "SELECT id, district_id, true, channel, complainant_name, complainant_phone, anonymous, description, "
    "lookup_code, registered_at FROM cases WHERE id = {} ON CONFLICT DO NOTHING"
)
_ADD = (
    "INSERT INTO case_complainants (case_id, district_id, channel, name, phone, anonymous, description, "
    "joined_at, joined_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id, lookup_code, "
    "(SELECT count(*) FROM case_complainants WHERE case_id = {}) + 1 AS complainants"
)


def _contact(body: JoinIn) -> bool:
    return bool(body.complainant_name.strip() and body.complainant_phone.strip()) and not body.anonymous


async def join_report(
    case_id: uuid.UUID, body: JoinIn, actor: Actor, *, now: datetime | None = None
) -> Joined:
    """Record `body` as a further complainant of the open case `case_id`, in one transaction with
    the case's `join` event (which names the channel, never the person)."""
    require_role(actor, INTAKE_ROLES, "join reports to a case")
    now = now or datetime.now(UTC)
    async with transaction():
        state = await cases.visible_state(case_id, actor, lock=True)
        _check_joinable(state)
        if state.id not in {
            c.case_id for c in await likely_repeats(_probe(state, body, now), actor, limit=50)
        }:
            raise DomainError(
                "not_a_repeat",
                "the report does not match this case: same category nearby, or the same caller at the same "
                "place, within the district's repeat window",
                "case_id",
                422,
            )
        await fetch(_COPY_FIRST, case_id)
        anonymous = body.anonymous or not body.complainant_phone.strip()
        rows = await fetch(
            _ADD,
            case_id,
            state.district_id,
            body.channel,
            "" if anonymous else body.complainant_name,
            "" if anonymous else body.complainant_phone,
            anonymous,
            body.description,
            now,
            actor.user_id,
            case_id,
        )
        added = rows[0]
        await cases.amend(
            case_id,
            actor,
            "join",
            {"further_contacts": state.further_contacts + 1} if _contact(body) else {},
            data={"channel": body.channel, "complainants": added["complainants"]},
            note="further complainant joined",
            now=now,
        )
    return Joined(
        case=await cases.case_view(case_id, actor),
        ticket=state.ticket,
        complainant_id=added["id"],
        complainants=added["complainants"],
    )


async def complainants(case_id: uuid.UUID, actor: Actor) -> list[Complainant]:
    """Everyone who reported the case, first one first; intake staff only (they see phones whole)."""
    require_role(actor, INTAKE_ROLES, "read a case's complainants")
    await cases.visible_case(case_id, actor)
    rows = await fetch(
        "SELECT id, first, channel, name, phone, anonymous, description, joined_at, satisfaction, rated_at "
        "FROM case_complainants WHERE case_id = {} ORDER BY NOT first, id",
        case_id,
    )
    return [msgspec.convert(r, Complainant) for r in rows]
