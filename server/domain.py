"""The shared vocabulary of Gridcase as plain msgspec Structs (DESIGN §1, §3, §4, §6).

Nothing here touches HTTP or SQL: the API, the sync push and the alert worker all load rows into
these Structs, call the pure rules (`server.lifecycle`, `server.deadlines`, `server.scope`,
`server.photos.same_angle`) and store what comes back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "ACTIONS",
    "Action",
    "Actor",
    "CaseState",
    "Channel",
    "DomainError",
    "Light",
    "PhotoKind",
    "PhotoMeta",
    "Role",
    "Status",
    "CaseType",
    "Urgency",
]

Role = Literal["agent", "grid_worker", "squad_member", "squad_leader", "unit_leader", "district_admin", "evaluator"]
FIELD_ROLES: frozenset[str] = frozenset({"grid_worker", "squad_member", "squad_leader"})

Channel = Literal["phone", "wechat", "web", "app", "letter", "visit", "patrol", "open311"]
CaseType = Literal["consult", "help", "complaint", "report", "suggestion"]
Urgency = Literal["normal", "important", "urgent"]
# 登记 → 派遣 → 受理 → 到场 → 办结 → 审核 → 回访 → 结案 → 归档
Status = Literal[
    "registered", "dispatched", "accepted", "on_site", "resolved", "reviewed", "called_back", "closed", "archived"
]
OPEN_STATUSES: frozenset[str] = frozenset({"registered", "dispatched", "accepted", "on_site"})
Light = Literal["green", "yellow", "red"]
Satisfaction = Literal["satisfied", "basically_satisfied", "unsatisfied"]
PhotoKind = Literal["before", "after", "evidence"]

Action = Literal[
    "dispatch", "answer", "accept", "return", "arrive", "resolve", "review", "callback", "close",
    "reopen", "archive", "request_extension", "approve_extension", "assign", "note",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]


class DomainError(Exception):
    """A rule said no. `code` is machine-readable and becomes the API error's `code`."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting, with what they may see: loaded once per request by the service layer."""

    user_id: int
    role: Role
    district_id: int
    unit_id: int | None = None
    # Units whose cases this actor reads and handles: own unit, plus the subtree for leaders.
    unit_ids: frozenset[int] = frozenset()
    # Grid cells a grid worker owns.
    grid_ids: frozenset[int] = frozenset()
    device_id: uuid.UUID | None = None


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
    accused_unit_id: int | None = None
    accused_user_id: int | None = None
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


class PhotoMeta(msgspec.Struct, frozen=True, kw_only=True):
    """A stored photo's metadata (DESIGN §6). `before_id` is set on an `after` photo."""

    id: uuid.UUID
    case_id: uuid.UUID | None
    kind: PhotoKind
    lat: float
    lon: float
    accuracy_m: float
    heading: float | None
    taken_at: datetime
    sha256: str
    size: int
    content_type: str
    before_id: uuid.UUID | None = None
