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
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import OPEN_STATUSES, CaseState, Channel, DescriptionText
from server.cases.lifecycle import MergePayload
from server.cases.schemas import CaseOut, Latitude, Longitude
from server.db import fetch, transaction
from server.errors import DomainError

__all__ = ["Complainant", "JoinIn", "Joined", "complainants", "join_report", "merge_case"]

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


def _probe(state: CaseState, body: JoinIn, at: datetime, category_id: int | None) -> RepeatProbe:
    """The report as the repeat rule reads it; a new report is of the case's category."""
    return RepeatProbe(
        district_id=state.district_id,
        at=at,
        category_id=state.category_id if category_id is None else category_id,
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
    "joined_at, joined_by, lookup_code) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
    "coalesce({}, gridcase_lookup_code())) RETURNING id, "
    "(SELECT count(*) FROM case_complainants WHERE case_id = {}) + 1 AS complainants"
)


class _Report(msgspec.Struct, frozen=True, kw_only=True):
    """A report joining a case: what it says, its category, and for a merged case its own ticket
    and the lookup code its complainant was already told."""

    body: JoinIn
    at: datetime
    category_id: int | None = None
    ticket: str | None = None
    lookup_code: str | None = None


async def _join(state: CaseState, report: _Report, actor: Actor) -> dict:
    """The report's complainant on the locked open case `state`, with the case's `join` event
    (which names the channel, never the person); the new row's id and the complainant count."""
    _check_joinable(state)
    probe = _probe(state, report.body, report.at, report.category_id)
    if state.id not in {c.case_id for c in await likely_repeats(probe, actor, limit=50)}:
        raise DomainError(
            "not_a_repeat",
            "the report does not match this case: same category nearby, or the same caller at the same "
            "place, within the district's repeat window",
            "case_id",
            422,
        )
    await fetch(_COPY_FIRST, state.id)
    body = report.body
    anonymous = body.anonymous or not body.complainant_phone.strip()
    rows = await fetch(
        _ADD,
        state.id,
        state.district_id,
        body.channel,
        "" if anonymous else body.complainant_name,
        "" if anonymous else body.complainant_phone,
        anonymous,
        body.description,
        report.at,
        actor.user_id,
        report.lookup_code,
        state.id,
    )
    added = rows[0]
    data = {"channel": body.channel, "complainants": added["complainants"]}
    await cases.amend(
        state.id,
        actor,
        "join",
        # Who among them is told is notify's rule (`is_told`); counting every phone only lets the
        # alert worker look early, never late.
        {"further_contacts": state.further_contacts + 1} if not anonymous else {},
        data={**data, "from_ticket": report.ticket} if report.ticket else data,
        note="further complainant joined",
    )
    return added


async def _joined(case_id: uuid.UUID, ticket: str, added: dict, actor: Actor) -> Joined:
    return Joined(
        case=await cases.case_view(case_id, actor),
        ticket=ticket,
        complainant_id=added["id"],
        complainants=added["complainants"],
    )


async def join_report(case_id: uuid.UUID, body: JoinIn, actor: Actor) -> Joined:
    """Record `body`, a report not yet registered, as a further complainant of the open case."""
    require_role(actor, INTAKE_ROLES, "join reports to a case")
    async with transaction():
        state = await cases.visible_state(case_id, actor, lock=True)
        added = await _join(state, _Report(body=body, at=datetime.now(UTC)), actor)
    return await _joined(case_id, state.ticket, added, actor)


async def merge_case(case_id: uuid.UUID, into: uuid.UUID, actor: Actor, version: int | None) -> Joined:
    """A registered case (from the web, Open311, a patrol, any channel) is the same problem as the
    earlier open case `into`: its complainant joins that one, keeping the lookup code of their
    receipt, and it closes as merged (life cycle `merge`), never dispatched."""
    require_role(actor, INTAKE_ROLES, "merge cases")
    if into == case_id:
        raise DomainError("self_merge", "a case cannot be merged into itself", "into", 422)
    async with transaction():
        # Both locked in one order, so two agents merging a pair each way cannot deadlock.
        await fetch("SELECT 1 FROM cases WHERE id = ANY({}::uuid[]) ORDER BY id FOR UPDATE", [case_id, into])
        merged = await cases.visible_state(case_id, actor, base_version=version)
        target = await cases.visible_state(into, actor)
        if merged.type == "report":
            _check_joinable(merged)
        if target.registered_at and merged.registered_at and target.registered_at > merged.registered_at:
            raise DomainError("not_earlier", "a case is merged into one registered before it", "into", 422)
        # The merged case's report, read as a joining report: its columns carry JoinIn's names.
        rows = await fetch(
            f"SELECT {', '.join(JoinIn.__struct_fields__)}, lookup_code FROM cases WHERE id = {{}}", case_id
        )
        row = rows[0]
        body = JoinIn(**{name: row[name] for name in JoinIn.__struct_fields__})
        report = _Report(
            body=body,
            at=merged.registered_at or datetime.now(UTC),
            category_id=merged.category_id,
            ticket=merged.ticket,
            lookup_code=row["lookup_code"],
        )
        added = await _join(target, report, actor)
        command = lifecycle.Command(action="merge", payload=MergePayload(into=into, ticket=target.ticket))
        await cases.act(case_id, command, actor, base_version=version)
    return await _joined(into, target.ticket, added, actor)


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
