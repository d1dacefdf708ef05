"""The vocabulary of a case (DESIGN §3, §4) and `CaseState`, the part the pure rules read and change.

Nothing here touches HTTP or SQL: the API, the sync push and the alert worker load rows into
these Structs, call the pure rules (`lifecycle`, `scope`, `server.calendar`) and store the result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

__all__ = [
    "ACTIONS",
    "AnswerText",
    "DescriptionText",
    "NoteText",
    "ReasonText",
    "OPEN_STATUSES",
    "Action",
    "AddressMatch",
    "CaseState",
    "CaseType",
    "Channel",
    "Disposition",
    "ReferralTarget",
    "Light",
    "Location",
    "LocationSource",
    "Satisfaction",
    "Status",
    "Urgency",
]

Channel = Literal["phone", "wechat", "web", "app", "letter", "visit", "patrol", "open311"]
CaseType = Literal["consult", "help", "complaint", "report", "suggestion"]
Urgency = Literal["normal", "important", "urgent"]
# 登记 → 派遣 → 受理 → 到场 → 办结 → 审核 → 回访 → 结案 → 归档
Status = Literal[
    "registered",
    "dispatched",
    "accepted",
    "on_site",
    "resolved",
    "reviewed",
    "called_back",
    "closed",
    "archived",
]
OPEN_STATUSES: frozenset[str] = frozenset({"registered", "dispatched", "accepted", "on_site"})
Light = Literal["green", "yellow", "red"]
Satisfaction = Literal["satisfied", "basically_satisfied", "unsatisfied"]
# How a case closed without being handled: refused (不予受理) or referred to another body.
Disposition = Literal["refused", "referred", "merged"]
# Where a referral goes: the emergency numbers, the discipline body (纪检监察), the petitions office (信访).
ReferralTarget = Literal["110", "119", "120", "122", "discipline", "petitions"]

Action = Literal[
    "dispatch",
    "answer",
    "accept",
    "return",
    "arrive",
    "resolve",
    "review",
    "callback",
    "close",
    "reopen",
    "archive",
    "request_extension",
    "approve_extension",
    "assign",
    "note",
    "refuse",
    "refer",
    "merge",
]
ACTIONS: tuple[str, ...] = get_args(Action)
# Where a case's point came from: a device's GPS (it always wins over a typed address), or the
# address register (地址库) when only an address was given and one entry clearly matched it.
# gps: a phone or a caller gave the point; geocoded: intake matched the address; placed: an agent
# placed a flagged case by hand (a register entry or a point on the map).
LocationSource = Literal["gps", "geocoded", "placed"]


class AddressMatch(msgspec.Struct, frozen=True, kw_only=True):
    """The register entry a case's point (geocoded) or address (nearest to its point) came from."""

    entry_id: int
    label: str
    # Geocoded: how well the typed address matched, 0-1. Nearest entry: how far it lies, metres.
    score: float | None = None
    distance_m: float | None = None


class Location(msgspec.Struct, frozen=True, kw_only=True):
    """How intake placed a case: `needs_location` when an address was given but no entry clearly
    matched it, so an agent or the console places it; never a silent guess."""

    source: LocationSource | None = None
    address_match: AddressMatch | None = None
    needs_location: bool = False


# Every free text has a limit, so that one case stays a small thing to store, send and pull.
# Notes (and review, callback, resolution remarks) and reasons (return, extension) are short;
# a case's description and an answer to a consultation may say more.
NoteText = Annotated[str, msgspec.Meta(max_length=2000)]
ReasonText = Annotated[str, msgspec.Meta(max_length=1000)]
AnswerText = Annotated[str, msgspec.Meta(max_length=4000)]
DescriptionText = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class CaseState(msgspec.Struct, kw_only=True):
    """The part of a case the life cycle, deadlines, lights and scope rules read and change."""

    id: uuid.UUID
    district_id: int
    ticket: str
    type: CaseType
    category_id: int | None
    urgency: Urgency = "normal"
    status: Status = "registered"
    version: int = 1
    channel: Channel = "phone"
    grid_id: int | None = None
    lead_unit_id: int | None = None
    co_unit_ids: tuple[int, ...] = ()
    assignee_id: int | None = None
    has_contact: bool = False
    # Further complainants with a contact (joined reports): they are told too.
    further_contacts: int = 0
    accused_unit_id: int | None = None
    accused_user_id: int | None = None
    # The unit the accused person led when the case was registered: it is accused with them, so
    # that nobody under that person reads or handles it (DESIGN §3).
    accused_user_unit_id: int | None = None
    registered_at: datetime | None = None
    dispatched_at: datetime | None = None
    return_by: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    due_provisional: bool = False
    # Working days from dispatched_at to due_at, extensions included: enough to recompute the
    # deadline when a year's official calendar arrives.
    due_days: int | None = None
    arrive_by: datetime | None = None
    resolved_at: datetime | None = None
    # When the review approved the work: the callback's working-day limit counts from it.
    reviewed_at: datetime | None = None
    closed_at: datetime | None = None
    extension_requested_days: int | None = None
    extension_reason: str | None = None
    extensions: int = 0
    returns: int = 0
    rework_count: int = 0
    satisfaction: Satisfaction | None = None
    # Recorded at callback: an unsatisfied complainant with the unit at fault allows a reopen.
    unit_at_fault: bool = False
    supervised: bool = False
    # The grid worker who found the case on patrol keeps seeing it on their handheld.
    reported_by: int | None = None
    location: Location = msgspec.field(default_factory=Location)
    # Set when the case closed by refusal or referral instead of being handled.
    disposition: Disposition | None = None
    referred_to: ReferralTarget | None = None
    # The ticket of the case a merged one joined (并案): its complainant follows that one.
    merged_into: str | None = None
