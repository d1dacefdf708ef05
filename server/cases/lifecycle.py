"""The case life cycle (DESIGN §4) as one pure function over the domain Structs.

`apply(case, command, actor, ctx)` checks, in this order, and raises `DomainError` on the first
refusal:

1. scope: the actor must see the case (`server.scope.can_see`), else `out_of_scope` **404**. An
   invisible case answers exactly like a missing one, so an accused official probing ticket
   numbers learns nothing (DESIGN §3);
2. role: `RULES[action].roles`, plus the lead-unit guards below, else `forbidden_role` 403;
3. status (and case type for `answer`): else `invalid_transition` 409;
4. the payload and the action's own rules: `invalid_payload` 422 with `field`, or a specific code.

On success it returns the new state (never mutating the input: `version` + 1, scope keys follow
from it via `server.scope.case_scope_keys`) and the event to append. Every instant comes from
`ctx.now`, the server clock; client times are recorded by the caller, never used here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec.structs import replace

from server.accounts.domain import Actor
from server.accounts.roles import FIELD_ROLES, Role
from server.calendar.deadlines import (
    Deadline,
    TimeLimits,
    extend,
    extension_allowed,
    handling_days,
    plan_deadline,
    plan_hours,
)
from server.calendar.workdays import Calendar, add_working_days, require_aware
from server.cases.domain import (
    ACTIONS,
    Action,
    AnswerText,
    CaseState,
    NoteText,
    ReasonText,
    ReferralTarget,
    Satisfaction,
    Status,
    Urgency,
)
from server.cases.scope import can_see
from server.errors import DomainError
from server.photos.domain import PhotoMeta
from server.photos.same_angle import SameAngleRules, check_resolution

__all__ = [
    "deadline_for_urgency",
    "replan",
    "PAYLOADS",
    "RULES",
    "AnswerPayload",
    "AssignPayload",
    "CallbackPayload",
    "Command",
    "Context",
    "DispatchPayload",
    "EmptyPayload",
    "EventDraft",
    "ExtensionDecisionPayload",
    "ExtensionRequestPayload",
    "NotePayload",
    "Outcome",
    "Payload",
    "ReferPayload",
    "RefusePayload",
    "ResolvePayload",
    "ReturnPayload",
    "ReviewPayload",
    "Rule",
    "apply",
    "parse_payload",
]

_SATISFACTIONS: frozenset[str] = frozenset(Satisfaction.__args__)  # type: ignore[attr-defined]


# --- payloads -------------------------------------------------------------------------------


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every action's payload; unknown fields are refused so that a typo is not ignored."""


class EmptyPayload(Payload, frozen=True):
    """accept, arrive, close, reopen, archive: the action says it all (`Command.note` may add to it)."""


# More co-units or photos than this is a hand-made request, not a case.
_MAX_CO_UNITS = 20
_MAX_PHOTOS = 40


class DispatchPayload(Payload, frozen=True):
    unit_id: int
    co_unit_ids: Annotated[tuple[int, ...], msgspec.Meta(max_length=_MAX_CO_UNITS)] = ()
    assignee_id: int | None = None


class AnswerPayload(Payload, frozen=True):
    text: AnswerText


class ReturnPayload(Payload, frozen=True):
    reason: ReasonText


class ResolvePayload(Payload, frozen=True):
    photo_ids: Annotated[tuple[uuid.UUID, ...], msgspec.Meta(max_length=_MAX_PHOTOS)]
    note: NoteText = ""


class ReviewPayload(Payload, frozen=True):
    approved: bool
    note: NoteText = ""  # required when not approved: the unit must know what to redo


class CallbackPayload(Payload, frozen=True):
    satisfaction: Satisfaction
    unit_at_fault: bool = False
    note: NoteText = ""


class ExtensionRequestPayload(Payload, frozen=True):
    days: int
    reason: ReasonText


class ExtensionDecisionPayload(Payload, frozen=True):
    approved: bool
    note: NoteText = ""


class RefusePayload(Payload, frozen=True):
    """不予受理: outside the remit or unreasonable; the reason is what the complainant is told."""

    reason: ReasonText


class MergePayload(Payload, frozen=True):
    """并案: the case is the same problem as the open case `into` (ticket `ticket`), which took its
    complainant (`geo.joins.merge_case`); this one closes, never dispatched."""

    into: uuid.UUID
    ticket: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{6}$")]


class ReferPayload(Payload, frozen=True):
    """Recorded as referred, never dispatched: an emergency number, the discipline body, the
    petitions office. `number` is the reference the other body gave, if any."""

    to: ReferralTarget
    number: Annotated[str, msgspec.Meta(max_length=64)] = ""
    note: NoteText = ""


class AssignPayload(Payload, frozen=True):
    assignee_id: int


class NotePayload(Payload, frozen=True):
    text: NoteText


# --- command, context, outcome ----------------------------------------------------------------


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """An action with its typed payload (`PAYLOADS[action]`); `note` is a free remark for the event
    of an action whose payload carries no text of its own."""

    action: Action
    payload: Payload = EmptyPayload()
    note: str | None = None


class Context(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules need beyond the case, loaded by the caller.

    - `now`: the server clock (aware); every deadline and window is measured from it.
    - `calendar`, `limits`: the district's working-day calendar and time limits.
    - `category_days`: the case category's own limit, if it has one (dispatch, reopen).
    - `photos`: the photos named by a `resolve` payload (more are harmless).
    - `same_angle`: the district's same-angle limits.
    - `unit_ids_in_district`: units a case may be dispatched to; empty refuses every unit.
    - `user_ids_in_district`: users an agent or admin may assign (dispatch, assign).
    - `squad_user_ids`: members of the acting squad leader's squad (assign).
    - `accused_unit_ids`: for an accusation, the accused unit, the accused person's unit and every
      unit under them: none of them may lead or co-handle it, nobody working in them may be its
      assignee (dispatch, assign).
    - `superior_unit_ids`: for an accusation, the units above every accused one (outside the
      accused subtree): only they may lead it (seed 002). None: no such limit (not an accusation,
      or nobody in a unit is accused).
    - `unit_of_user`: the unit of each user the payload names (dispatch, assign).
    """

    now: datetime
    calendar: Calendar
    limits: TimeLimits = msgspec.field(default_factory=TimeLimits)
    category_days: int | None = None
    photos: tuple[PhotoMeta, ...] = ()
    same_angle: SameAngleRules = msgspec.field(default_factory=SameAngleRules)
    unit_ids_in_district: frozenset[int] = frozenset()
    user_ids_in_district: frozenset[int] = frozenset()
    squad_user_ids: frozenset[int] = frozenset()
    accused_unit_ids: frozenset[int] = frozenset()
    superior_unit_ids: frozenset[int] | None = None
    unit_of_user: dict[int, int | None] = msgspec.field(default_factory=dict)


class EventDraft(msgspec.Struct, frozen=True, kw_only=True):
    """The case event to append; the caller adds actor, device, client time, GPS, mutation id."""

    # A life-cycle action, or a change outside it: register, replan, link_repeat, supervise.
    action: str
    from_status: Status | None
    to_status: Status
    note: str
    data: dict[str, Any]
    at: datetime


class Outcome(msgspec.Struct, frozen=True):
    case: CaseState
    event: EventDraft


# --- the transition table ---------------------------------------------------------------------


class Rule(NamedTuple):
    sources: frozenset[str]
    # None: the status does not change. `review` may send the case back to `accepted` instead.
    target: str | None
    roles: frozenset[str]
    # None: every case type.
    case_types: frozenset[str] | None = None


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


_INTAKE = _set("agent", "district_admin")
_OPEN = _set("dispatched", "accepted", "on_site")
_ALL_ROLES: frozenset[str] = frozenset(Role.__args__)  # type: ignore[attr-defined]
_NOT_ARCHIVED: frozenset[str] = frozenset(Status.__args__) - {"archived"}  # type: ignore[attr-defined]

RULES: dict[str, Rule] = {
    "dispatch": Rule(_set("registered"), "dispatched", _INTAKE),
    "answer": Rule(_set("registered"), "closed", _INTAKE, _set("consult")),
    "accept": Rule(_set("dispatched"), "accepted", FIELD_ROLES),
    "return": Rule(_set("dispatched", "accepted"), "registered", FIELD_ROLES),
    "arrive": Rule(_set("accepted"), "on_site", FIELD_ROLES),
    "resolve": Rule(_set("on_site"), "resolved", FIELD_ROLES),
    "review": Rule(_set("resolved"), "reviewed", _INTAKE),
    "callback": Rule(_set("reviewed"), "called_back", _INTAKE),
    # From `reviewed` only when there is nobody to call back (checked by the handler).
    "close": Rule(_set("reviewed", "called_back"), "closed", _INTAKE),
    "reopen": Rule(_set("called_back"), "dispatched", _INTAKE),
    "archive": Rule(_set("closed"), "archived", _set("district_admin")),
    "request_extension": Rule(_OPEN, None, FIELD_ROLES | {"unit_leader"}),
    "approve_extension": Rule(_OPEN, None, _set("unit_leader", "district_admin")),
    "assign": Rule(_set("dispatched", "accepted"), None, _INTAKE | {"squad_leader"}),
    "note": Rule(_NOT_ARCHIVED, None, _ALL_ROLES),
    # Not for this office to handle: closed at intake, never dispatched.
    "refuse": Rule(_set("registered"), "closed", _INTAKE),
    "refer": Rule(_set("registered"), "closed", _INTAKE),
    "merge": Rule(_set("registered"), "closed", _INTAKE),
}


def _leads(case: CaseState, actor: Actor) -> bool:
    """The actor belongs to (or leads) the case's lead unit."""
    return case.lead_unit_id is not None and case.lead_unit_id in {actor.unit_id, *actor.unit_ids}


def _handles(case: CaseState, actor: Actor) -> bool:
    """The actor works the case for the lead unit: in it, its assignee, or the grid worker of its
    cell (grid workers read through their cells, never through a unit). A co-unit's people only
    add notes, photos and their opinion (主办/协办, DESIGN §3)."""
    in_cell = actor.role == "grid_worker" and case.grid_id in actor.grid_ids
    return _leads(case, actor) or case.assignee_id == actor.user_id or in_cell


# (action, role) → extra condition: unit-side roles act only for the lead unit, not a co-unit.
_ROLE_GUARDS: dict[tuple[str, str], Callable[[CaseState, Actor], bool]] = {
    **{
        (action, role): _handles
        for action in ("accept", "arrive", "return", "resolve", "request_extension")
        for role in FIELD_ROLES
    },
    ("request_extension", "unit_leader"): _leads,
    ("approve_extension", "unit_leader"): _leads,
    ("assign", "squad_leader"): _leads,
}


# --- checks -----------------------------------------------------------------------------------


def _refuse_payload(field: str, message: str) -> DomainError:
    return DomainError("invalid_payload", message, field=field, status=422)


def _require_text(value: str, field: str) -> None:
    if not value.strip():
        raise _refuse_payload(field, f"{field} must not be empty")


def _authorize(case: CaseState, action: str, actor: Actor) -> None:
    if not can_see(actor, case):
        raise DomainError("out_of_scope", "no such case", status=404)
    guard = _ROLE_GUARDS.get((action, actor.role))
    if actor.role not in RULES[action].roles or (guard is not None and not guard(case, actor)):
        raise DomainError("forbidden_role", f"a {actor.role} may not {action} this case", status=403)


def _check_status(case: CaseState, action: str) -> None:
    rule = RULES[action]
    if case.status not in rule.sources:
        raise DomainError("invalid_transition", f"cannot {action} a {case.status} case", status=409)
    if rule.case_types is not None and case.type not in rule.case_types:
        raise DomainError(
            "invalid_transition", f"{action} applies to {sorted(rule.case_types)} cases only", status=409
        )


def _accused_units(case: CaseState, ctx: Context) -> frozenset[int]:
    if case.type != "report":
        return frozenset()
    named = (case.accused_unit_id, case.accused_user_unit_id)
    return ctx.accused_unit_ids | {u for u in named if u is not None}


def _check_units(case: CaseState, ctx: Context, field: str, unit_ids: Iterable[int]) -> None:
    for unit_id in unit_ids:
        if unit_id not in ctx.unit_ids_in_district:
            raise DomainError(
                "unknown_unit", f"unit {unit_id} is not in the district", field=field, status=422
            )
        # DESIGN §3: an accusation is never routed to the unit it accuses, nor below it.
        if unit_id in _accused_units(case, ctx):
            raise DomainError(
                "accused_unit", "an accusation cannot go to the accused unit", field=field, status=422
            )


def _check_lead(case: CaseState, ctx: Context, unit_id: int) -> None:
    # Seed 002: an accusation goes to the head of the unit above the accused one.
    superiors = ctx.superior_unit_ids if case.type == "report" else None
    if superiors is not None and unit_id not in superiors:
        raise DomainError(
            "not_superior_unit",
            "an accusation is led by a unit above the accused one",
            field="unit_id",
            status=422,
        )


def _check_assignee(case: CaseState, ctx: Context, allowed: frozenset[int], assignee_id: int) -> None:
    if case.type == "report" and assignee_id == case.accused_user_id:
        raise DomainError(
            "accused_user", "an accusation cannot go to the accused", field="assignee_id", status=422
        )
    if case.type == "report" and ctx.unit_of_user.get(assignee_id) in _accused_units(case, ctx):
        raise DomainError(
            "accused_unit",
            "an accusation cannot go to someone working in or under the accused unit",
            field="assignee_id",
            status=422,
        )
    if assignee_id not in allowed:
        raise DomainError(
            "invalid_assignee",
            f"user {assignee_id} may not be assigned here",
            field="assignee_id",
            status=422,
        )


# --- pieces of state --------------------------------------------------------------------------

_NO_EXTENSION_REQUEST: dict[str, Any] = {"extension_requested_days": None, "extension_reason": None}
_UNROUTED: dict[str, Any] = {
    "lead_unit_id": None,
    "co_unit_ids": (),
    "assignee_id": None,
    "dispatched_at": None,
    "return_by": None,
    "due_at": None,
    "warn_at": None,
    "due_provisional": False,
    "arrive_by": None,
    **_NO_EXTENSION_REQUEST,
}

Changes = dict[str, Any]
Data = dict[str, Any]


def _deadline_fields(deadline: Deadline, due_days: int | None) -> Changes:
    """The case fields a deadline sets; `due_days` counts from dispatched_at, extensions included."""
    return {
        "due_at": deadline.due_at,
        "warn_at": deadline.warn_at,
        "due_provisional": deadline.provisional,
        "due_days": due_days,
    }


def _start_clock(case: CaseState, ctx: Context) -> tuple[Changes, Data]:
    """A fresh handling deadline from now (dispatch and rework); urgent cases also get arrive_by."""
    days = handling_days(ctx.limits, case.type, case.urgency, ctx.category_days)
    deadline = plan_deadline(ctx.calendar, ctx.limits, ctx.now, days)
    changes: Changes = {
        "dispatched_at": ctx.now,
        **_deadline_fields(deadline, days),
        "arrive_by": None,
        "resolved_at": None,
        **_NO_EXTENSION_REQUEST,
    }
    data: Data = {"days": days, "due_at": deadline.due_at, "missing_years": list(deadline.missing_years)}
    if case.urgency == "urgent":
        limits = ctx.limits
        changes["arrive_by"] = plan_hours(
            ctx.now, limits.urgent_on_site_hours, limits.urgent_warn_minutes
        ).due_at
        data["arrive_by"] = changes["arrive_by"]
    return changes, data


def _is_late(ctx: Context, since: datetime | None, days: int) -> bool:
    """Whether `days` working days after `since` are over (recorded on the event, never refused)."""
    return since is not None and ctx.now >= add_working_days(ctx.calendar, since, days).at


def _resolution_photos(case: CaseState, ids: tuple[uuid.UUID, ...], ctx: Context) -> list[PhotoMeta]:
    by_id = {photo.id: photo for photo in ctx.photos}
    unknown = [str(i) for i in ids if i not in by_id]
    if unknown:
        raise DomainError("unknown_photo", f"no such photos: {unknown}", field="photo_ids", status=422)
    foreign = [str(i) for i in ids if by_id[i].case_id not in (None, case.id)]
    if foreign:
        raise DomainError(
            "foreign_photo", f"photos of another case: {foreign}", field="photo_ids", status=422
        )
    return [by_id[i] for i in dict.fromkeys(ids)]


# --- handlers: (case, payload, actor, ctx) → (changes, event data) ---------------------------


def _dispatch(case: CaseState, p: DispatchPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    co_units = tuple(sorted(set(p.co_unit_ids) - {p.unit_id}))
    _check_units(case, ctx, "unit_id", (p.unit_id,))
    _check_lead(case, ctx, p.unit_id)
    _check_units(case, ctx, "co_unit_ids", co_units)
    if p.assignee_id is not None:
        _check_assignee(case, ctx, ctx.user_ids_in_district, p.assignee_id)
    clock, data = _start_clock(case, ctx)
    route = {
        "lead_unit_id": p.unit_id,
        "co_unit_ids": co_units,
        "assignee_id": p.assignee_id,
        "return_by": add_working_days(ctx.calendar, ctx.now, ctx.limits.return_days).at,
    }
    return clock | route, data | route | {"co_unit_ids": list(co_units)}


def _answer(case: CaseState, p: AnswerPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    _require_text(p.text, "text")
    return {"closed_at": ctx.now}, {}


def _accept(case: CaseState, p: EmptyPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    assignee = case.assignee_id if case.assignee_id is not None else actor.user_id
    return {"assignee_id": assignee}, {"assignee_id": assignee}


def _return(case: CaseState, p: ReturnPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    _require_text(p.reason, "reason")
    # No return_by (a reworked case) means the unit already owned it: nothing to return.
    if case.return_by is None or ctx.now >= case.return_by:
        raise DomainError("return_window_passed", "the return window is over", status=409)
    changes = {**_UNROUTED, "returns": case.returns + 1}
    return changes, {"reason": p.reason, "unit_id": case.lead_unit_id}


def _arrive(case: CaseState, p: EmptyPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    return {}, {"late": case.arrive_by is not None and ctx.now >= case.arrive_by}


def _resolve(case: CaseState, p: ResolvePayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    check_resolution(_resolution_photos(case, p.photo_ids, ctx), ctx.same_angle)
    on_time = case.due_at is None or ctx.now < case.due_at
    # resolved_at stops the unit's clock: the light is judged at that instant from now on.
    changes = {"resolved_at": ctx.now, **_NO_EXTENSION_REQUEST}
    return changes, {"photo_ids": [str(i) for i in dict.fromkeys(p.photo_ids)], "on_time": on_time}


def _review(case: CaseState, p: ReviewPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    data = {"approved": p.approved, "late": _is_late(ctx, case.resolved_at, ctx.limits.review_days)}
    if p.approved:
        return {"reviewed_at": ctx.now}, data
    _require_text(p.note, "note")
    # Back to the unit, whose clock runs again.
    return {"status": "accepted", "resolved_at": None}, data


def _callback(case: CaseState, p: CallbackPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    if p.satisfaction not in _SATISFACTIONS:
        raise _refuse_payload("satisfaction", f"satisfaction must be one of {sorted(_SATISFACTIONS)}")
    if not case.has_contact:
        raise DomainError(
            "no_contact", "an anonymous case or one without contact gets no callback", status=409
        )
    changes = {"satisfaction": p.satisfaction, "unit_at_fault": p.unit_at_fault}
    late = _is_late(ctx, case.reviewed_at, ctx.limits.callback_days)
    return changes, {"satisfaction": p.satisfaction, "unit_at_fault": p.unit_at_fault, "late": late}


def _close(case: CaseState, p: EmptyPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    if case.status == "reviewed" and case.has_contact:
        raise DomainError("callback_required", "call the complainant back before closing", status=409)
    return {"closed_at": ctx.now}, {}


def _reopen(case: CaseState, p: EmptyPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    if case.satisfaction != "unsatisfied" or not case.unit_at_fault:
        raise DomainError(
            "reopen_not_allowed", "only an unsatisfied callback with the unit at fault reopens", status=409
        )
    clock, data = _start_clock(case, ctx)
    changes = {
        **clock,
        # Rework is the unit's own: no return window. The next callback judges it afresh.
        "return_by": None,
        "rework_count": case.rework_count + 1,
        "reviewed_at": None,
        "satisfaction": None,
        "unit_at_fault": False,
    }
    return changes, data | {"rework_count": case.rework_count + 1}


def _archive(case: CaseState, p: EmptyPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    return {}, {}


def _request_extension(
    case: CaseState, p: ExtensionRequestPayload, actor: Actor, ctx: Context
) -> tuple[Changes, Data]:
    if not 1 <= p.days <= ctx.limits.max_extension_days:
        raise _refuse_payload("days", f"an extension is 1 to {ctx.limits.max_extension_days} working days")
    _require_text(p.reason, "reason")
    if case.extension_requested_days is not None:
        raise DomainError("extension_pending", "an extension request is already waiting", status=409)
    if case.due_at is None or not extension_allowed(ctx.calendar, ctx.limits, case.due_at, ctx.now):
        raise DomainError(
            "extension_too_late", "too close to the deadline to ask for an extension", status=409
        )
    changes = {"extension_requested_days": p.days, "extension_reason": p.reason}
    return changes, {"days": p.days, "reason": p.reason}


def _approve_extension(
    case: CaseState, p: ExtensionDecisionPayload, actor: Actor, ctx: Context
) -> tuple[Changes, Data]:
    days = case.extension_requested_days
    if days is None or case.due_at is None:
        raise DomainError("no_pending_extension", "no extension request is waiting", status=409)
    data: Data = {"approved": p.approved, "days": days}
    if not p.approved:
        return dict(_NO_EXTENSION_REQUEST), data
    if case.due_days is not None and case.dispatched_at is not None:
        # The same end as extending the old deadline, with the warning window of the whole limit.
        deadline = plan_deadline(ctx.calendar, ctx.limits, case.dispatched_at, case.due_days + days)
    else:
        deadline = extend(ctx.calendar, ctx.limits, case.due_at, days)
    changes = {
        **_deadline_fields(deadline, None if case.due_days is None else case.due_days + days),
        "extensions": case.extensions + 1,
        **_NO_EXTENSION_REQUEST,
    }
    return changes, data | {"due_at": deadline.due_at, "previous_due_at": case.due_at}


def _assign(case: CaseState, p: AssignPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    allowed = ctx.squad_user_ids if actor.role == "squad_leader" else ctx.user_ids_in_district
    _check_assignee(case, ctx, allowed, p.assignee_id)
    return {"assignee_id": p.assignee_id}, {"assignee_id": p.assignee_id, "previous": case.assignee_id}


def _note(case: CaseState, p: NotePayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    _require_text(p.text, "text")
    return {}, {}


def _refuse(case: CaseState, p: RefusePayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    _require_text(p.reason, "reason")
    return {"closed_at": ctx.now, "disposition": "refused"}, {"reason": p.reason}


def _refer(case: CaseState, p: ReferPayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    changes = {"closed_at": ctx.now, "disposition": "referred", "referred_to": p.to}
    return changes, {"to": p.to, "number": p.number}


def _merge(case: CaseState, p: MergePayload, actor: Actor, ctx: Context) -> tuple[Changes, Data]:
    if p.into == case.id:
        raise _refuse_payload("into", "a case cannot be merged into itself")
    return {"closed_at": ctx.now, "disposition": "merged", "merged_into": p.ticket}, {
        "into": str(p.into),
        "ticket": p.ticket,
    }


Handler = Callable[[CaseState, Any, Actor, Context], tuple[Changes, Data]]

_HANDLERS: dict[str, tuple[type[Payload], Handler]] = {
    "dispatch": (DispatchPayload, _dispatch),
    "answer": (AnswerPayload, _answer),
    "accept": (EmptyPayload, _accept),
    "return": (ReturnPayload, _return),
    "arrive": (EmptyPayload, _arrive),
    "resolve": (ResolvePayload, _resolve),
    "review": (ReviewPayload, _review),
    "callback": (CallbackPayload, _callback),
    "close": (EmptyPayload, _close),
    "reopen": (EmptyPayload, _reopen),
    "archive": (EmptyPayload, _archive),
    "request_extension": (ExtensionRequestPayload, _request_extension),
    "approve_extension": (ExtensionDecisionPayload, _approve_extension),
    "assign": (AssignPayload, _assign),
    "note": (NotePayload, _note),
    "refuse": (RefusePayload, _refuse),
    "refer": (ReferPayload, _refer),
    "merge": (MergePayload, _merge),
}

# What the API and the sync push decode a payload into: `parse_payload` does it.
PAYLOADS: dict[str, type[Payload]] = {action: payload for action, (payload, _) in _HANDLERS.items()}

# The payload field, if any, that doubles as the event's note.
_NOTE_FIELDS = ("text", "reason", "note")
_FIELD_IN_ERROR = re.compile(r"`\$\.(\w+)|field `(\w+)`")


def parse_payload(action: str, raw: object) -> Payload:
    """Decode a JSON-like payload (a dict, `{}` for none) into `PAYLOADS[action]`."""
    if action not in PAYLOADS:
        raise _refuse_payload("action", f"unknown action {action!r}; one of {list(ACTIONS)}")
    try:
        return msgspec.convert({} if raw is None else raw, PAYLOADS[action])
    except msgspec.ValidationError as exc:
        match = _FIELD_IN_ERROR.search(str(exc))
        field = next((g for g in match.groups() if g), "payload") if match else "payload"
        raise _refuse_payload(field, str(exc)) from exc


def _event_note(payload: Payload, command: Command) -> str:
    texts = (getattr(payload, name, "") for name in _NOTE_FIELDS)
    return next((text for text in texts if text), command.note or "")


def replan(case: CaseState, calendar: Calendar, limits: TimeLimits) -> dict[str, Any] | None:
    """The deadline again under a calendar that changed (a year's official schedule arrived):
    the changed fields, or None when nothing moves. Client clocks play no part: only dispatched_at."""
    if case.due_days is None or case.dispatched_at is None:
        return None
    changes = _deadline_fields(
        plan_deadline(calendar, limits, case.dispatched_at, case.due_days), case.due_days
    )
    return None if all(getattr(case, k) == v for k, v in changes.items()) else changes


def deadline_for_urgency(
    case: CaseState, urgency: Urgency, calendar: Calendar, limits: TimeLimits, category_days: int | None
) -> dict[str, Any]:
    """A running deadline under a new urgency (a linked repeat becomes important): the limit of the
    new urgency from the same dispatch, keeping any approved extension. Nothing when no clock runs."""
    if case.due_days is None or case.dispatched_at is None or case.status not in _OPEN:
        return {}
    extension = max(0, case.due_days - handling_days(limits, case.type, case.urgency, category_days))
    days = handling_days(limits, case.type, urgency, category_days) + extension
    return _deadline_fields(plan_deadline(calendar, limits, case.dispatched_at, days), days)


def apply(case: CaseState, command: Command, actor: Actor, ctx: Context) -> Outcome:
    """Apply one action: the new state (version + 1) and the event, or a `DomainError`."""
    require_aware(ctx.now, "ctx.now")
    if command.action not in RULES:
        raise _refuse_payload("action", f"unknown action {command.action!r}")
    _authorize(case, command.action, actor)
    _check_status(case, command.action)
    payload_type, handler = _HANDLERS[command.action]
    if type(command.payload) is not payload_type:
        raise _refuse_payload("payload", f"{command.action} takes a {payload_type.__name__}")
    changes, data = handler(case, command.payload, actor, ctx)
    target = RULES[command.action].target or case.status
    new_state = replace(case, **{"status": target, **changes, "version": case.version + 1})
    event = EventDraft(
        action=command.action,
        from_status=case.status,
        to_status=new_state.status,
        note=_event_note(command.payload, command),
        data=data,
        at=ctx.now,
    )
    return Outcome(new_state, event)
