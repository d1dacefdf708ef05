"""Request and answer shapes of the case API (DESIGN §12), shared by the API and the sync pull."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from server.accounts.domain import Actor
from server.cases.domain import (
    AddressMatch,
    CaseType,
    Channel,
    DescriptionText,
    Light,
    LocationSource,
    Status,
    Urgency,
)
from server.cases.lifecycle import (
    AnswerPayload,
    AssignPayload,
    CallbackPayload,
    DispatchPayload,
    EmptyPayload,
    ExtensionDecisionPayload,
    ExtensionRequestPayload,
    NotePayload,
    ReferPayload,
    RefusePayload,
    ResolvePayload,
    ReturnPayload,
    ReviewPayload,
)
from server.photos.domain import PhotoKind

__all__ = [
    "AwareDatetime",
    "CaseAnswer",
    "CaseCreate",
    "CaseOut",
    "CaseReceipt",
    "EventPage",
    "CasePage",
    "EventOut",
    "PhotoOut",
    "GPS",
    "NO_ORIGIN",
    "Origin",
    "Registration",
    "CaseFilter",
]

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Text200 = Annotated[str, msgspec.Meta(max_length=200)]
# A device's clock reading. Without a zone it is ambiguous by up to 26 hours, so it is refused
# (for pushed mutations and photo slots alike) rather than guessed.
AwareDatetime = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description="RFC 3339 with a UTC offset or Z (2026-11-23T08:00:00+08:00); without one it is refused",
    ),
]
Metres = Annotated[float, msgspec.Meta(ge=0, description="accuracy of the position, in metres")]


class GPS(msgspec.Struct, forbid_unknown_fields=True):
    """A device's position fix; `accuracy` is the older name of `accuracy_m`, still read."""

    lat: Latitude
    lon: Longitude
    accuracy_m: Metres | None = None
    accuracy: Annotated[
        Metres | None, msgspec.Meta(extra_json_schema={"deprecated": True, "description": "use accuracy_m"})
    ] = None

    def __post_init__(self) -> None:
        if self.accuracy is not None:
            if self.accuracy_m is not None and self.accuracy_m != self.accuracy:
                raise ValueError("accuracy and accuracy_m disagree; send accuracy_m alone")
            self.accuracy_m, self.accuracy = self.accuracy, None


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    """Where a change came from when a handheld made it: recorded on its event, never trusted for
    deadlines (DESIGN §7)."""

    device_id: uuid.UUID | None = None
    mutation_id: uuid.UUID | None = None
    client_time: datetime | None = None
    gps: GPS | None = None


NO_ORIGIN = Origin()


class CaseCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What an agent types when a citizen calls, writes or walks in (登记)."""

    type: CaseType
    description: DescriptionText
    channel: Channel = "phone"
    category_id: int | None = None
    urgency: Urgency = "normal"
    title: Text200 = ""
    address: Text200 = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    complainant_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    complainant_phone: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+\- ]*$")] = ""
    contact_consent: bool = False
    anonymous: bool = False
    accused_unit_id: int | None = None
    accused_user_id: int | None = None


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    """Who registers a case, in which district and when: `actor` is None for a civic app; a patrol
    report brings the case id the phone made, its origin, and the grid worker who found it."""

    district_id: int
    actor: Actor | None
    now: datetime
    case_id: uuid.UUID | None = None
    origin: Origin = NO_ORIGIN
    reported_by: int | None = None


class EventOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    seq: int
    action: str
    from_status: str | None
    to_status: str | None
    actor_id: int | None
    device_id: uuid.UUID | None
    mutation_id: uuid.UUID | None
    at: datetime
    client_time: datetime | None
    lat: float | None
    lon: float | None
    note: str
    data: dict[str, Any]


class PhotoOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: PhotoKind
    before_id: uuid.UUID | None
    sha256: str
    size: int
    content_type: str
    lat: float
    lon: float
    accuracy_m: float
    heading: float | None
    taken_at: datetime
    stored: bool


class CaseOut(msgspec.Struct, kw_only=True, tag_field="view", tag="case"):
    """A case as the caller may see it (`view: "case"`). `events` holds the last `VIEW_EVENTS` of
    its timeline, oldest first; `events_total` says how many there are, and
    `GET /cases/{id}/events` pages through the rest."""

    id: uuid.UUID
    ticket: str
    version: int
    status: Status
    light: Light
    type: CaseType
    channel: Channel
    urgency: Urgency
    category_id: int | None
    title: str
    description: str
    address: str
    lat: float | None
    lon: float | None
    location_source: LocationSource | None
    address_match: AddressMatch | None
    needs_location: bool
    grid_id: int | None
    lead_unit_id: int | None
    co_unit_ids: list[int]
    assignee_id: int | None
    complainant_name: str
    complainant_phone: str
    anonymous: bool
    registered_at: datetime
    dispatched_at: datetime | None
    return_by: datetime | None
    due_at: datetime | None
    warn_at: datetime | None
    due_provisional: bool
    arrive_by: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    supervised: bool
    repeat_of: uuid.UUID | None
    extension_requested_days: int | None
    rework_count: int
    satisfaction: str | None
    events: list[EventOut]
    events_total: int
    photos: list[PhotoOut]


class CaseReceipt(msgspec.Struct, kw_only=True, tag_field="view", tag="receipt"):
    """What a write answers when the change took the case out of the caller's scope (a squad
    returned it, an agent registered an accusation against their own unit): the change is stored,
    and this is all of the case the caller may still see (`view: "receipt"`)."""

    id: uuid.UUID
    ticket: str
    version: int
    status: Status
    light: Light


# A write's answer: the case, or the receipt when the caller no longer sees it.
CaseAnswer = CaseOut | CaseReceipt


class EventPage(msgspec.Struct, kw_only=True):
    """A page of a case's timeline, oldest first; `before_seq` asks for the page before it (null:
    this page starts the timeline)."""

    events: list[EventOut]
    total: int
    before_seq: int | None


class CaseFilter(msgspec.Struct, frozen=True, kw_only=True):
    """The case list's filters; `text` is matched literally in ticket, title, description, address."""

    status: Status | None = None
    category_id: int | None = None
    unit_id: int | None = None
    grid_id: int | None = None
    light: Light | None = None
    text: str | None = None


class CasePage(msgspec.Struct):
    items: list[CaseOut]
    total: int
    offset: int
    limit: int


# --- transition requests: one body schema per action, `{version?, payload}` (DESIGN §12) ----------
# `version` is the case version the caller saw: a stale one answers 409 `stale_version`.


class DispatchRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: DispatchPayload
    version: int | None = None


class AnswerRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: AnswerPayload
    version: int | None = None


class AcceptRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: EmptyPayload = msgspec.field(default_factory=EmptyPayload)
    version: int | None = None


class ReturnRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ReturnPayload
    version: int | None = None


class ArriveRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: EmptyPayload = msgspec.field(default_factory=EmptyPayload)
    version: int | None = None


class ResolveRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ResolvePayload
    version: int | None = None


class ReviewRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ReviewPayload
    version: int | None = None


class CallbackRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: CallbackPayload
    version: int | None = None


class CloseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: EmptyPayload = msgspec.field(default_factory=EmptyPayload)
    version: int | None = None


class ReopenRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: EmptyPayload = msgspec.field(default_factory=EmptyPayload)
    version: int | None = None


class ArchiveRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: EmptyPayload = msgspec.field(default_factory=EmptyPayload)
    version: int | None = None


class RequestExtensionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ExtensionRequestPayload
    version: int | None = None


class ApproveExtensionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ExtensionDecisionPayload
    version: int | None = None


class AssignRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: AssignPayload
    version: int | None = None


class NoteRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: NotePayload
    version: int | None = None


class RefuseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: RefusePayload
    version: int | None = None


class ReferRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: ReferPayload
    version: int | None = None


class SupervisePayload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class SuperviseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payload: SupervisePayload
    version: int | None = None
