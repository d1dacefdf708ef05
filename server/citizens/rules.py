"""What a complainant may see and say about their case: pure rules over msgspec Structs.

Privacy on every public path: never a complainant's name, phone or e-mail, never an accusation,
no internal notes, no staff names. The public timeline is an allow-list of steps; only the steps
whose text is meant for the complainant (an answer, a refusal's reason) carry it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.cases.domain import Satisfaction
from server.cases.lifecycle import CallbackPayload
from server.errors import DomainError

__all__ = [
    "PUBLIC_STEPS",
    "Credentials",
    "PublicStep",
    "RatingIn",
    "TrackOut",
    "callback_for",
    "check_credentials",
    "check_ticket",
    "parse_credentials",
    "public_timeline",
    "result_of",
]

# The steps a complainant sees, with what they are called; anything else (notes, assignments,
# returns, supervision, reminders, repeat links) is the office's own business.
PUBLIC_STEPS: dict[str, str] = {
    "register": "受理 registered",
    "dispatch": "派遣 dispatched",
    "accept": "接单 accepted by the unit",
    "arrive": "到场 on site",
    "resolve": "办结 resolved",
    "review": "审核 reviewed",
    "callback": "回访 called back",
    "close": "结案 closed",
    "reopen": "返工 reopened for rework",
    "answer": "答复 answered",
    "refuse": "不予受理 refused",
    "refer": "转办 referred",
    "join": "并案 another complainant reported the same problem",
    "merge": "并案 handled with the case of the same problem",
}
# Steps whose text is written to the complainant.
_TEXT_STEPS = frozenset({"answer", "refuse"})
_REVIEW_BACK = "accepted"
_TICKET = re.compile(r"^\d{4}-\d{6}$")
_REFERRAL_NAMES = {
    "110": "110 police",
    "119": "119 fire",
    "120": "120 ambulance",
    "122": "122 traffic police",
    "discipline": "纪检监察 discipline inspection",
    "petitions": "信访 petitions office",
}

Code = Annotated[str, msgspec.Meta(pattern=r"^\d{8}$")]
PhoneLastFour = Annotated[str, msgspec.Meta(pattern=r"^\d{4}$")]


class Credentials(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The lookup code of the receipt, or the last four digits of the phone the complainant left."""

    code: Code | None = None
    phone_last4: PhoneLastFour | None = None


class RatingIn(Credentials, frozen=True, kw_only=True, forbid_unknown_fields=True):
    satisfaction: Satisfaction
    solved: bool
    comment: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class PublicStep(msgspec.Struct, kw_only=True):
    at: datetime
    step: str
    label: str
    text: str = ""


class Result(msgspec.Struct, kw_only=True):
    outcome: Literal["resolved", "answered", "refused", "referred", "merged"]
    at: datetime | None
    text: str = ""


class TrackOut(msgspec.Struct, kw_only=True):
    ticket: str
    status: str
    category: str | None
    unit: str | None
    registered_at: datetime
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    result: Result | None
    timeline: list[PublicStep]
    # Whether a rating is awaited now, and the one given (by phone or here).
    can_rate: bool
    satisfaction: Satisfaction | None


def check_ticket(ticket: str) -> None:
    if not _TICKET.match(ticket):
        raise DomainError("invalid_ticket", "a ticket looks like 2026-000123", "ticket", 422)


def parse_credentials(code: str | None, phone_last4: str | None) -> Credentials:
    """Query parameters into `Credentials`: eight digits, or four."""
    try:
        return msgspec.convert({"code": code, "phone_last4": phone_last4}, Credentials)
    except msgspec.ValidationError as exc:
        raise DomainError(
            "invalid_credentials", f"the lookup code is 8 digits, a phone's end 4: {exc}", "code", 422
        ) from None


def check_credentials(credentials: Credentials) -> None:
    if (credentials.code is None) == (credentials.phone_last4 is None):
        raise DomainError(
            "invalid_credentials", "give the lookup code or the last four digits of the phone", "code", 422
        )


def public_timeline(events: list[dict[str, Any]]) -> list[PublicStep]:
    """The allowed steps of the case's events, oldest first; a review that sent the work back is
    shown as nothing: the complainant sees the case still being handled."""
    steps = []
    for e in events:
        action = e["action"]
        if action not in PUBLIC_STEPS or (action == "review" and e["to_status"] == _REVIEW_BACK):
            continue
        text = e["note"] if action in _TEXT_STEPS else ""
        if action == "refer":
            text = _REFERRAL_NAMES.get((e.get("data") or {}).get("to", ""), "")
        if action == "merge":
            text = (e.get("data") or {}).get("ticket", "")
        steps.append(PublicStep(at=e["at"], step=action, label=PUBLIC_STEPS[action], text=text))
    return steps


def result_of(state: dict[str, Any], timeline: list[PublicStep]) -> Result | None:
    """What came of the case: the last refusal, referral or answer, or its resolution."""
    for step in reversed(timeline):
        if step.step == "refuse":
            return Result(outcome="refused", at=step.at, text=step.text)
        if step.step == "refer":
            return Result(outcome="referred", at=step.at, text=step.text)
        if step.step == "merge":
            return Result(outcome="merged", at=step.at, text=step.text)
        if step.step == "answer":
            return Result(outcome="answered", at=step.at, text=step.text)
    if state.get("resolved_at") is not None:
        return Result(outcome="resolved", at=state["resolved_at"])
    return None


def callback_for(rating: RatingIn) -> CallbackPayload:
    """A rating is the callback of DESIGN §4: unsatisfied and not solved puts the unit at fault,
    which lets the office reopen the case for rework after its review."""
    solved = "已解决 solved" if rating.solved else "未解决 not solved"
    return CallbackPayload(
        satisfaction=rating.satisfaction,
        unit_at_fault=rating.satisfaction == "unsatisfied" and not rating.solved,
        note=f"网上评价 online rating ({solved}): {rating.comment}".strip().rstrip(":"),
    )
