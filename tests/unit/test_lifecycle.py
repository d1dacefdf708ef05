"""The case life cycle (DESIGN §4): every action × role × status, then the rules one by one.

The calendar is synthetic: 2026 with Tuesday 3 March as a holiday, so working-day arithmetic is
visible in the expected instants. "Now" is Monday 2 March 2026, 10:00 in Shanghai.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from server.accounts.domain import Actor
from server.calendar.deadlines import TimeLimits
from server.calendar.workdays import Calendar
from server.cases.domain import ACTIONS, CaseState
from server.cases.lifecycle import (
    PAYLOADS,
    RULES,
    AnswerPayload,
    AssignPayload,
    CallbackPayload,
    Command,
    Context,
    DispatchPayload,
    EmptyPayload,
    ExtensionDecisionPayload,
    ExtensionRequestPayload,
    MergePayload,
    NotePayload,
    Outcome,
    Payload,
    ReferPayload,
    RefusePayload,
    ResolvePayload,
    ReturnPayload,
    ReviewPayload,
    apply,
    deadline_for_urgency,
    parse_payload,
)
from server.cases.scope import can_see, case_scope_keys
from server.errors import DomainError
from server.photos.domain import PhotoMeta

TZ = ZoneInfo("Asia/Shanghai")
HOLIDAY = date(2026, 3, 3)
CAL = Calendar(
    holidays=frozenset({HOLIDAY}), workdays=frozenset(), years=frozenset({2026}), tz="Asia/Shanghai"
)
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=TZ)  # a Monday


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


DISTRICT = 1
BUREAU, LEAD, CO, OTHER_UNIT = 9, 10, 11, 12
CELL = 100
CASE_ID = uuid.UUID(int=1)
OTHER_CASE_ID = uuid.UUID(int=2)
MEMBER_ID, SQUAD_MATE_ID = 5, 8

ACTORS: dict[str, Actor] = {
    "agent": Actor(user_id=1, role="agent", district_id=DISTRICT),
    "district_admin": Actor(user_id=2, role="district_admin", district_id=DISTRICT),
    "evaluator": Actor(user_id=3, role="evaluator", district_id=DISTRICT),
    "grid_worker": Actor(user_id=4, role="grid_worker", district_id=DISTRICT, grid_ids=frozenset({CELL})),
    "squad_member": Actor(
        user_id=MEMBER_ID, role="squad_member", district_id=DISTRICT, unit_id=LEAD, unit_ids=frozenset({LEAD})
    ),
    "squad_leader": Actor(
        user_id=6, role="squad_leader", district_id=DISTRICT, unit_id=LEAD, unit_ids=frozenset({LEAD})
    ),
    # Leader of the bureau above the lead squad: the loader gives the subtree.
    "unit_leader": Actor(
        user_id=7,
        role="unit_leader",
        district_id=DISTRICT,
        unit_id=BUREAU,
        unit_ids=frozenset({BUREAU, LEAD, CO}),
    ),
}
AGENT, ADMIN, WORKER = ACTORS["agent"], ACTORS["district_admin"], ACTORS["grid_worker"]
MEMBER, LEADER, UNIT_LEADER = ACTORS["squad_member"], ACTORS["squad_leader"], ACTORS["unit_leader"]

BEFORE = PhotoMeta(
    id=uuid.UUID(int=101),
    case_id=CASE_ID,
    kind="before",
    lat=31.2304,
    lon=121.4737,
    accuracy_m=5.0,
    heading=90.0,
    taken_at=NOW - timedelta(hours=1),
    sha256="a" * 64,
    size=1000,
    content_type="image/jpeg",
)
AFTER = PhotoMeta(
    id=uuid.UUID(int=102),
    case_id=None,
    kind="after",
    lat=31.2305,
    lon=121.4737,
    accuracy_m=5.0,
    heading=100.0,
    taken_at=NOW - timedelta(minutes=5),
    sha256="b" * 64,
    size=1000,
    content_type="image/jpeg",
    before_id=BEFORE.id,
)


def ctx(now: datetime = NOW, **kw: Any) -> Context:
    base: dict[str, Any] = {
        "now": now,
        "calendar": CAL,
        "photos": (BEFORE, AFTER),
        "unit_ids_in_district": frozenset({BUREAU, LEAD, CO, OTHER_UNIT}),
        "user_ids_in_district": frozenset({4, MEMBER_ID, SQUAD_MATE_ID}),
        "squad_user_ids": frozenset({MEMBER_ID, SQUAD_MATE_ID}),
    }
    return Context(**(base | kw))


_ROUTED = {"dispatched", "accepted", "on_site", "resolved", "reviewed", "called_back", "closed", "archived"}


def make_case(status: str = "registered", **kw: Any) -> CaseState:
    """A complaint in CELL; once dispatched, led by LEAD with CO helping and MEMBER assigned."""
    base: dict[str, Any] = {
        "id": CASE_ID,
        "district_id": DISTRICT,
        "ticket": "2026-000001",
        "type": "complaint",
        "category_id": 1,
        "status": status,
        "version": 3,
        "grid_id": CELL,
        "has_contact": True,
        "registered_at": NOW - timedelta(hours=2),
    }
    if status in _ROUTED:
        base |= {
            "lead_unit_id": LEAD,
            "co_unit_ids": (CO,),
            "assignee_id": MEMBER_ID,
            "dispatched_at": NOW - timedelta(hours=1),
            "return_by": local(3, 6),
            "due_at": local(3, 31),
            "warn_at": local(3, 30),
        }
    if status in {"resolved", "reviewed", "called_back", "closed", "archived"}:
        base["resolved_at"] = NOW - timedelta(minutes=30)
    if status in {"reviewed", "called_back", "closed", "archived"}:
        base["reviewed_at"] = NOW - timedelta(minutes=20)
    if status in {"called_back", "closed", "archived"}:
        base |= {"satisfaction": "unsatisfied", "unit_at_fault": True}
    if status in {"closed", "archived"}:
        base["closed_at"] = NOW - timedelta(minutes=10)
    return CaseState(**(base | kw))


def run(
    case: CaseState, action: str, payload: Payload | None = None, who: Actor = AGENT, **ctx_kw: Any
) -> Outcome:
    return apply(case, Command(action=action, payload=payload or EmptyPayload()), who, ctx(**ctx_kw))  # type: ignore[arg-type]


def refused(
    case: CaseState, action: str, payload: Payload | None = None, who: Actor = AGENT, **ctx_kw: Any
) -> DomainError:
    with pytest.raises(DomainError) as info:
        run(case, action, payload, who, **ctx_kw)
    return info.value


# --- the whole matrix -------------------------------------------------------------------------

# Written out from DESIGN §4 and the brief, independently of lifecycle.RULES.
INTAKE = {"agent", "district_admin"}
FIELD = {"grid_worker", "squad_member", "squad_leader"}
OPEN = {"dispatched", "accepted", "on_site"}
ALL_STATUSES = [
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
EXPECTED: dict[str, tuple[set[str], set[str], str | None]] = {
    # action: (roles, from statuses, resulting status; None = unchanged)
    "dispatch": (INTAKE, {"registered"}, "dispatched"),
    "answer": (INTAKE, {"registered"}, "closed"),
    "accept": (FIELD, {"dispatched"}, "accepted"),
    "return": (FIELD, {"dispatched", "accepted"}, "registered"),
    "arrive": (FIELD, {"accepted"}, "on_site"),
    "resolve": (FIELD, {"on_site"}, "resolved"),
    "review": (INTAKE, {"resolved"}, "reviewed"),
    "callback": (INTAKE, {"reviewed"}, "called_back"),
    "close": (INTAKE, {"reviewed", "called_back"}, "closed"),
    "reopen": (INTAKE, {"called_back"}, "dispatched"),
    "archive": ({"district_admin"}, {"closed"}, "archived"),
    "request_extension": (FIELD | {"unit_leader"}, OPEN, None),
    "approve_extension": ({"unit_leader", "district_admin"}, OPEN, None),
    "assign": (INTAKE | {"squad_leader"}, {"dispatched", "accepted"}, None),
    "note": (set(ACTORS), set(ALL_STATUSES) - {"archived"}, None),
    # Issue 15: 不予受理 and referral close a case at intake; it is never dispatched.
    "refuse": (INTAKE, {"registered"}, "closed"),
    "refer": (INTAKE, {"registered"}, "closed"),
    # 并案: a registered case merged into the earlier open case of the same problem.
    "merge": (INTAKE, {"registered"}, "closed"),
}
# Allowed by role and status, refused by a rule of the action itself (the case has a contact).
SPECIAL = {("close", "reviewed"): "callback_required"}
VALID: dict[str, Payload] = {
    "dispatch": DispatchPayload(unit_id=LEAD),
    "answer": AnswerPayload(text="The office opens at nine."),
    "accept": EmptyPayload(),
    "return": ReturnPayload(reason="street lighting belongs to the works bureau"),
    "arrive": EmptyPayload(),
    "resolve": ResolvePayload(photo_ids=(BEFORE.id, AFTER.id), note="rubbish removed"),
    "review": ReviewPayload(approved=True),
    "callback": CallbackPayload(satisfaction="satisfied"),
    "close": EmptyPayload(),
    "reopen": EmptyPayload(),
    "archive": EmptyPayload(),
    "request_extension": ExtensionRequestPayload(days=3, reason="waiting for a spare part"),
    "approve_extension": ExtensionDecisionPayload(approved=True),
    "assign": AssignPayload(assignee_id=SQUAD_MATE_ID),
    "note": NotePayload(text="caller rang again"),
    "refuse": RefusePayload(reason="a private dispute between neighbours, for the courts"),
    "refer": ReferPayload(to="119", number="F-2026-88"),
    "merge": MergePayload(into=uuid.UUID(int=99), ticket="2026-000001"),
}
HTTP = {"out_of_scope": 404, "forbidden_role": 403, "invalid_transition": 409, "callback_required": 409}


def sees(role: str, status: str) -> bool:
    """District roles see everything; the grid worker the cell until archived; units once routed."""
    if role in {"agent", "district_admin", "evaluator"}:
        return True
    if role == "grid_worker":
        return status != "archived"
    return status in OPEN | {"resolved", "reviewed", "called_back", "closed"}


def expected_result(action: str, role: str, status: str) -> str:
    roles, sources, _ = EXPECTED[action]
    if not sees(role, status):
        return "out_of_scope"
    if role not in roles:
        return "forbidden_role"
    if status not in sources:
        return "invalid_transition"
    return SPECIAL.get((action, status), "ok")


def matrix_case(action: str, status: str) -> CaseState:
    extra: dict[str, Any] = {}
    if action == "answer":
        extra["type"] = "consult"
    if action == "approve_extension":
        extra |= {"extension_requested_days": 2, "extension_reason": "rain"}
    return make_case(status, **extra)


def test_the_matrix_covers_every_action() -> None:
    assert set(EXPECTED) == set(ACTIONS) == set(RULES) == set(PAYLOADS) == set(VALID)


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("role", sorted(ACTORS))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_role_and_status(action: str, role: str, status: str) -> None:
    case = matrix_case(action, status)
    want = expected_result(action, role, status)
    command = Command(action=action, payload=VALID[action])  # type: ignore[arg-type]
    if want == "ok":
        outcome = apply(case, command, ACTORS[role], ctx())
        target = EXPECTED[action][2] or status
        assert outcome.case.status == target
        assert outcome.case.version == case.version + 1
        assert (outcome.event.action, outcome.event.from_status, outcome.event.to_status) == (
            action,
            status,
            target,
        )
        assert outcome.event.at == NOW
    else:
        with pytest.raises(DomainError) as info:
            apply(case, command, ACTORS[role], ctx())
        assert (info.value.code, info.value.status) == (want, HTTP[want])


# A co-handling unit (协办) sees the lead unit's case but only adds notes (and photos, and its
# opinion); moving the status, asking for more time and assigning are the lead unit's (DESIGN §3).
CO_ACTORS: dict[str, Actor] = {
    role: Actor(user_id=60 + i, role=role, district_id=DISTRICT, unit_id=CO, unit_ids=frozenset({CO}))  # type: ignore[arg-type]
    for i, role in enumerate(("squad_member", "squad_leader", "unit_leader"))
}
LEAD_ONLY = {"accept", "return", "arrive", "resolve", "request_extension", "approve_extension", "assign"}


def expected_for_co_unit(action: str, role: str, status: str) -> str:
    roles, sources, _ = EXPECTED[action]
    if not sees(role, status):
        return "out_of_scope"
    if role not in roles or action in LEAD_ONLY:
        return "forbidden_role"
    if status not in sources:
        return "invalid_transition"
    return "ok"


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("role", sorted(CO_ACTORS))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_of_a_co_unit(action: str, role: str, status: str) -> None:
    want = expected_for_co_unit(action, role, status)
    command = Command(action=action, payload=VALID[action])  # type: ignore[arg-type]
    case, who = matrix_case(action, status), CO_ACTORS[role]
    if want == "ok":
        assert apply(case, command, who, ctx()).case.status == case.status
    else:
        with pytest.raises(DomainError) as info:
            apply(case, command, who, ctx())
        assert (info.value.code, info.value.status) == (want, HTTP[want])


def test_a_co_unit_member_assigned_to_the_case_handles_it() -> None:
    assigned = make_case("dispatched", assignee_id=CO_ACTORS["squad_member"].user_id)
    assert run(assigned, "accept", who=CO_ACTORS["squad_member"]).case.status == "accepted"


# --- the happy path ---------------------------------------------------------------------------


def test_full_life_from_registration_to_archive() -> None:
    case = make_case("registered", version=1)
    steps: list[tuple[str, Payload, Actor, datetime]] = [
        ("dispatch", DispatchPayload(unit_id=LEAD, co_unit_ids=(CO,)), AGENT, NOW),
        ("accept", EmptyPayload(), MEMBER, local(3, 2, 11)),
        ("arrive", EmptyPayload(), MEMBER, local(3, 2, 12)),
        ("resolve", ResolvePayload(photo_ids=(BEFORE.id, AFTER.id), note="cleared"), MEMBER, local(3, 2, 13)),
        ("review", ReviewPayload(approved=True), AGENT, local(3, 2, 14)),
        ("callback", CallbackPayload(satisfaction="satisfied"), AGENT, local(3, 4, 9)),
        ("close", EmptyPayload(), AGENT, local(3, 4, 10)),
        ("archive", EmptyPayload(), ADMIN, local(3, 5, 10)),
    ]
    statuses = []
    for action, payload, who, at in steps:
        case = apply(case, Command(action=action, payload=payload), who, ctx(now=at)).case  # type: ignore[arg-type]
        statuses.append(case.status)
    assert statuses == [
        "dispatched",
        "accepted",
        "on_site",
        "resolved",
        "reviewed",
        "called_back",
        "closed",
        "archived",
    ]
    assert case.version == 1 + len(steps)
    assert case.assignee_id == MEMBER_ID  # accept took it
    assert (case.resolved_at, case.closed_at) == (local(3, 2, 13), local(3, 4, 10))
    assert case.satisfaction == "satisfied"
    assert case_scope_keys(case) == ("district:1",)
    assert not can_see(MEMBER, case)


def test_dispatch_sets_routing_and_working_day_deadlines() -> None:
    out = run(
        make_case(),
        "dispatch",
        DispatchPayload(unit_id=LEAD, co_unit_ids=(CO, LEAD, CO), assignee_id=MEMBER_ID),
    )
    case = out.case
    assert (case.lead_unit_id, case.co_unit_ids, case.assignee_id) == (LEAD, (CO,), MEMBER_ID)
    assert case.dispatched_at == NOW
    # Tuesday 3 March is a holiday: Wed, Thu are the two return days, Wed..Tue next week the five.
    assert case.return_by == local(3, 6)
    assert case.due_at == local(3, 11)
    assert case.warn_at == local(3, 10)
    assert case.due_provisional is False
    assert case.arrive_by is None
    assert out.event.data["due_at"] == local(3, 11)
    assert "unit:10" in case_scope_keys(case) and "unit:11" in case_scope_keys(case)


def test_dispatch_uses_the_category_limit() -> None:
    case = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD), category_days=15).case
    # 15 working days after Monday 2 March with the Tuesday off: Tuesday 24 March ends it.
    assert case.due_at == local(3, 25)
    # Long limits warn three working days ahead: from Friday 20 March.
    assert case.warn_at == local(3, 20)


def test_urgent_dispatch_must_be_on_site_within_two_hours() -> None:
    case = run(make_case(urgency="urgent"), "dispatch", DispatchPayload(unit_id=LEAD)).case
    assert case.arrive_by == NOW + timedelta(hours=2)
    assert case.due_at == local(3, 6)  # reply within 2 working days
    accepted = run(case, "accept", who=MEMBER, now=NOW + timedelta(minutes=30)).case
    late = run(accepted, "arrive", who=MEMBER, now=NOW + timedelta(hours=3))
    assert late.event.data["late"] is True
    assert run(accepted, "arrive", who=MEMBER, now=NOW + timedelta(hours=1)).event.data["late"] is False


def test_a_deadline_reaching_into_a_year_without_calendar_is_provisional() -> None:
    december = datetime(2026, 12, 28, 10, tzinfo=TZ)
    out = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD), now=december)
    assert out.case.due_provisional is True
    assert out.event.data["missing_years"] == [2027]


def test_dispatch_refuses_a_unit_outside_the_district() -> None:
    err = refused(make_case(), "dispatch", DispatchPayload(unit_id=999))
    assert (err.code, err.field, err.status) == ("unknown_unit", "unit_id", 422)
    err = refused(make_case(), "dispatch", DispatchPayload(unit_id=LEAD, co_unit_ids=(999,)))
    assert (err.code, err.field) == ("unknown_unit", "co_unit_ids")


def test_dispatch_refuses_an_assignee_outside_the_district() -> None:
    err = refused(make_case(), "dispatch", DispatchPayload(unit_id=LEAD, assignee_id=999))
    assert (err.code, err.field) == ("invalid_assignee", "assignee_id")


def test_deadlines_follow_the_server_clock_only() -> None:
    later = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD), now=local(3, 4, 10)).case
    assert later.dispatched_at == local(3, 4, 10)
    assert later.due_at == local(3, 12)


# --- consult ----------------------------------------------------------------------------------


def test_a_consultation_is_answered_and_closed_at_once() -> None:
    out = run(make_case(type="consult"), "answer", AnswerPayload(text="Bring your ID card."))
    assert (out.case.status, out.case.closed_at) == ("closed", NOW)
    assert out.event.note == "Bring your ID card."


def test_only_a_consultation_can_be_answered() -> None:
    assert (
        refused(make_case(type="complaint"), "answer", AnswerPayload(text="no")).code == "invalid_transition"
    )


def test_an_answer_needs_text() -> None:
    err = refused(make_case(type="consult"), "answer", AnswerPayload(text="  "))
    assert (err.code, err.field, err.status) == ("invalid_payload", "text", 422)


# --- accept, return ---------------------------------------------------------------------------


def test_accept_takes_an_unassigned_case_and_keeps_an_assigned_one() -> None:
    unassigned = make_case("dispatched", assignee_id=None)
    assert run(unassigned, "accept", who=LEADER).case.assignee_id == LEADER.user_id
    assert run(make_case("dispatched"), "accept", who=LEADER).case.assignee_id == MEMBER_ID


def test_return_within_the_window_stretched_by_the_holiday() -> None:
    dispatched = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD, assignee_id=MEMBER_ID)).case
    # Thursday noon: without the Tuesday holiday the window would have closed on Thursday 00:00.
    out = run(
        dispatched, "return", ReturnPayload(reason="not ours: water board"), who=LEADER, now=local(3, 5, 12)
    )
    case = out.case
    assert case.status == "registered"
    assert (case.lead_unit_id, case.co_unit_ids, case.assignee_id, case.due_at, case.return_by) == (
        None,
        (),
        None,
        None,
        None,
    )
    assert case.returns == 1
    assert out.event.data == {"reason": "not ours: water board", "unit_id": LEAD}
    assert not can_see(MEMBER, case) and not can_see(LEADER, case)
    # The office dispatches it again, with a fresh clock.
    again = run(case, "dispatch", DispatchPayload(unit_id=CO), now=local(3, 5, 13)).case
    assert (again.status, again.lead_unit_id, again.due_at) == ("dispatched", CO, local(3, 13))


def test_return_after_the_window_is_refused() -> None:
    dispatched = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD)).case
    err = refused(dispatched, "return", ReturnPayload(reason="late"), who=LEADER, now=local(3, 6))
    assert (err.code, err.status) == ("return_window_passed", 409)


def test_return_needs_a_reason() -> None:
    err = refused(make_case("dispatched"), "return", ReturnPayload(reason=""), who=LEADER)
    assert (err.code, err.field) == ("invalid_payload", "reason")


# --- resolve ----------------------------------------------------------------------------------


def test_resolve_with_same_angle_photos_stops_the_clock() -> None:
    out = run(
        make_case("on_site"),
        "resolve",
        ResolvePayload(photo_ids=(BEFORE.id, AFTER.id), note="cleared"),
        MEMBER,
    )
    assert (out.case.status, out.case.resolved_at) == ("resolved", NOW)
    assert out.event.data["photo_ids"] == [str(BEFORE.id), str(AFTER.id)]
    assert out.event.data["on_time"] is True
    assert out.event.note == "cleared"


def test_resolve_without_an_after_photo_is_refused() -> None:
    err = refused(make_case("on_site"), "resolve", ResolvePayload(photo_ids=(BEFORE.id,)), MEMBER)
    assert (err.code, err.field, err.status) == ("resolve_needs_photos", "photo_ids", 422)


def test_resolve_with_a_photo_from_another_angle_is_refused() -> None:
    turned = msgspec.structs.replace(AFTER, heading=270.0)
    err = refused(
        make_case("on_site"),
        "resolve",
        ResolvePayload(photo_ids=(BEFORE.id, AFTER.id)),
        MEMBER,
        photos=(BEFORE, turned),
    )
    assert err.code == "photos_not_same_angle"


def test_resolve_with_an_unknown_photo_is_refused() -> None:
    err = refused(
        make_case("on_site"), "resolve", ResolvePayload(photo_ids=(BEFORE.id, uuid.UUID(int=999))), MEMBER
    )
    assert (err.code, err.field) == ("unknown_photo", "photo_ids")


def test_resolve_with_another_case_photo_is_refused() -> None:
    foreign = msgspec.structs.replace(AFTER, case_id=OTHER_CASE_ID)
    err = refused(
        make_case("on_site"),
        "resolve",
        ResolvePayload(photo_ids=(BEFORE.id, AFTER.id)),
        MEMBER,
        photos=(BEFORE, foreign),
    )
    assert (err.code, err.field) == ("foreign_photo", "photo_ids")


def test_late_resolution_is_recorded() -> None:
    late = make_case("on_site", due_at=NOW - timedelta(hours=1))
    assert (
        run(late, "resolve", ResolvePayload(photo_ids=(BEFORE.id, AFTER.id)), MEMBER).event.data["on_time"]
        is False
    )


# --- review, callback, close, reopen ----------------------------------------------------------


def test_a_rejected_review_sends_the_case_back_to_the_unit() -> None:
    out = run(make_case("resolved"), "review", ReviewPayload(approved=False, note="the bin is still there"))
    assert (out.case.status, out.case.resolved_at) == ("accepted", None)
    assert out.event.to_status == "accepted"


def test_a_rejected_review_needs_a_note() -> None:
    err = refused(make_case("resolved"), "review", ReviewPayload(approved=False))
    assert (err.code, err.field) == ("invalid_payload", "note")


def test_a_late_review_is_recorded_not_refused() -> None:
    resolved = make_case("resolved", resolved_at=local(2, 25, 10))  # Wednesday before
    out = run(resolved, "review", ReviewPayload(approved=True))
    assert (out.case.status, out.case.reviewed_at, out.event.data["late"]) == ("reviewed", NOW, True)
    assert run(make_case("resolved"), "review", ReviewPayload(approved=True)).event.data["late"] is False


def test_callback_needs_a_contact() -> None:
    err = refused(
        make_case("reviewed", has_contact=False), "callback", CallbackPayload(satisfaction="satisfied")
    )
    assert (err.code, err.status) == ("no_contact", 409)


def test_a_case_without_contact_closes_right_after_review() -> None:
    out = run(make_case("reviewed", has_contact=False), "close")
    assert (out.case.status, out.case.closed_at) == ("closed", NOW)
    assert refused(make_case("reviewed"), "close").code == "callback_required"


def test_reopen_when_unsatisfied_and_the_unit_is_at_fault() -> None:
    called = run(
        make_case("reviewed"), "callback", CallbackPayload(satisfaction="unsatisfied", unit_at_fault=True)
    ).case
    out = run(called, "reopen", now=local(3, 4, 10))
    case = out.case
    assert (case.status, case.rework_count, case.resolved_at) == ("dispatched", 1, None)
    assert case.dispatched_at == local(3, 4, 10)
    assert case.due_at == local(3, 12)  # a fresh 5 working days
    assert (case.satisfaction, case.unit_at_fault, case.lead_unit_id) == (None, False, LEAD)
    # A rework is the unit's own: it cannot be returned as misrouted.
    assert (
        refused(case, "return", ReturnPayload(reason="not ours"), who=LEADER).code == "return_window_passed"
    )


@pytest.mark.parametrize(
    ("satisfaction", "at_fault"),
    [("unsatisfied", False), ("satisfied", True), ("basically_satisfied", True), ("satisfied", False)],
)
def test_reopen_is_refused_otherwise(satisfaction: str, at_fault: bool) -> None:
    called = make_case("called_back", satisfaction=satisfaction, unit_at_fault=at_fault)
    assert refused(called, "reopen").code == "reopen_not_allowed"


def test_callback_refuses_an_unknown_satisfaction() -> None:
    err = refused(make_case("reviewed"), "callback", CallbackPayload(satisfaction="meh"))  # type: ignore[arg-type]
    assert (err.code, err.field) == ("invalid_payload", "satisfaction")


# --- extensions -------------------------------------------------------------------------------


def dispatched_due_11_march() -> CaseState:
    return run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD, assignee_id=MEMBER_ID)).case


def test_extension_request_then_approval_moves_the_deadline() -> None:
    case = dispatched_due_11_march()
    asked = run(case, "request_extension", ExtensionRequestPayload(days=3, reason="spare part"), MEMBER).case
    assert (asked.extension_requested_days, asked.extension_reason, asked.due_at) == (
        3,
        "spare part",
        local(3, 11),
    )
    out = run(asked, "approve_extension", ExtensionDecisionPayload(approved=True), UNIT_LEADER)
    # Counting on from Tuesday 10 March: Wed, Thu, Fri.
    assert (out.case.due_at, out.case.warn_at) == (local(3, 14), local(3, 13))
    assert out.case.extensions == 1
    assert (out.case.extension_requested_days, out.case.extension_reason) == (None, None)
    assert out.event.data["previous_due_at"] == local(3, 11)


def test_a_rejected_extension_keeps_the_deadline_and_clears_the_request() -> None:
    asked = run(
        dispatched_due_11_march(), "request_extension", ExtensionRequestPayload(days=3, reason="x"), MEMBER
    ).case
    out = run(asked, "approve_extension", ExtensionDecisionPayload(approved=False), ADMIN)
    assert (out.case.due_at, out.case.extensions, out.case.extension_requested_days) == (
        local(3, 11),
        0,
        None,
    )


def test_extension_too_late() -> None:
    case = dispatched_due_11_march()
    # Two working days' notice before the end of Tuesday 10 March: Monday 9 March 00:00 is the last instant.
    assert run(
        case, "request_extension", ExtensionRequestPayload(days=1, reason="x"), MEMBER, now=local(3, 9)
    ).case
    err = refused(
        case, "request_extension", ExtensionRequestPayload(days=1, reason="x"), MEMBER, now=local(3, 9, 0, 1)
    )
    assert (err.code, err.status) == ("extension_too_late", 409)


def test_one_pending_extension_at_a_time() -> None:
    asked = make_case("accepted", extension_requested_days=2, extension_reason="rain")
    assert (
        refused(asked, "request_extension", ExtensionRequestPayload(days=1, reason="x"), MEMBER).code
        == "extension_pending"
    )


def test_approving_without_a_request_is_refused() -> None:
    assert refused(
        make_case("accepted"), "approve_extension", ExtensionDecisionPayload(approved=True), ADMIN
    ).code == ("no_pending_extension")


@pytest.mark.parametrize(
    ("days", "reason", "field"), [(0, "x", "days"), (-2, "x", "days"), (31, "x", "days"), (2, " ", "reason")]
)
def test_extension_request_payload(days: int, reason: str, field: str) -> None:
    err = refused(
        make_case("accepted"), "request_extension", ExtensionRequestPayload(days=days, reason=reason), MEMBER
    )
    assert (err.code, err.field) == ("invalid_payload", field)


def test_only_the_lead_unit_leader_or_the_admin_approves() -> None:
    asked = make_case("accepted", extension_requested_days=2, extension_reason="rain")
    co_leader = Actor(
        user_id=30, role="unit_leader", district_id=DISTRICT, unit_id=CO, unit_ids=frozenset({CO})
    )
    assert can_see(co_leader, asked)
    for who in (co_leader, LEADER, MEMBER, AGENT):
        assert (
            refused(asked, "approve_extension", ExtensionDecisionPayload(approved=True), who).code
            == "forbidden_role"
        )
    assert (
        refused(asked, "request_extension", ExtensionRequestPayload(days=1, reason="x"), co_leader).code
        == "forbidden_role"
    )


# --- assign, note -----------------------------------------------------------------------------


def test_squad_leader_assigns_within_the_squad_only() -> None:
    assert (
        run(
            make_case("accepted"), "assign", AssignPayload(assignee_id=SQUAD_MATE_ID), LEADER
        ).case.assignee_id
        == 8
    )
    err = refused(make_case("accepted"), "assign", AssignPayload(assignee_id=4), LEADER)
    assert (err.code, err.field) == ("invalid_assignee", "assignee_id")
    # The agent may assign anyone of the district.
    assert run(make_case("accepted"), "assign", AssignPayload(assignee_id=4), AGENT).case.assignee_id == 4


def test_a_co_unit_squad_leader_cannot_assign() -> None:
    co_squad = Actor(
        user_id=31, role="squad_leader", district_id=DISTRICT, unit_id=CO, unit_ids=frozenset({CO})
    )
    assert (
        refused(make_case("accepted"), "assign", AssignPayload(assignee_id=8), co_squad).code
        == "forbidden_role"
    )


def test_a_note_changes_nothing_but_the_version() -> None:
    case = make_case("on_site")
    out = run(case, "note", NotePayload(text="neighbour says it happens nightly"), UNIT_LEADER)
    assert msgspec.structs.replace(out.case, version=case.version) == case
    assert (out.case.version, out.event.note) == (case.version + 1, "neighbour says it happens nightly")


def test_a_note_needs_text() -> None:
    assert refused(make_case("on_site"), "note", NotePayload(text=""), MEMBER).field == "text"


# --- accusations ------------------------------------------------------------------------------


def accusation(status: str = "registered", **kw: Any) -> CaseState:
    return make_case(status, type="report", accused_unit_id=LEAD, accused_user_id=MEMBER_ID, **kw)


def test_an_accusation_is_never_dispatched_to_the_accused_unit() -> None:
    err = refused(accusation(), "dispatch", DispatchPayload(unit_id=LEAD))
    assert (err.code, err.field, err.status) == ("accused_unit", "unit_id", 422)
    err = refused(accusation(), "dispatch", DispatchPayload(unit_id=CO, co_unit_ids=(LEAD,)))
    assert (err.code, err.field) == ("accused_unit", "co_unit_ids")


def test_an_accusation_is_never_dispatched_below_the_accused_unit() -> None:
    # The loader puts the accused unit's subtree and the accused person's unit in the context.
    err = refused(
        accusation(),
        "dispatch",
        DispatchPayload(unit_id=OTHER_UNIT),
        accused_unit_ids=frozenset({LEAD, OTHER_UNIT}),
    )
    assert (err.code, err.field) == ("accused_unit", "unit_id")
    assert (
        run(
            accusation(),
            "dispatch",
            DispatchPayload(unit_id=CO),
            accused_unit_ids=frozenset({LEAD, OTHER_UNIT}),
        ).case.lead_unit_id
        == CO
    )


def test_an_accusation_is_never_assigned_to_the_accused() -> None:
    err = refused(accusation(), "dispatch", DispatchPayload(unit_id=CO, assignee_id=MEMBER_ID))
    assert (err.code, err.field) == ("accused_user", "assignee_id")
    routed = accusation("dispatched", lead_unit_id=CO, co_unit_ids=(), assignee_id=None)
    assert refused(routed, "assign", AssignPayload(assignee_id=MEMBER_ID), AGENT).code == "accused_user"


def test_an_accusation_is_invisible_to_the_accused() -> None:
    routed = run(accusation(), "dispatch", DispatchPayload(unit_id=CO)).case
    for who in (MEMBER, LEADER):
        err = refused(routed, "note", NotePayload(text="?"), who)
        assert (err.code, err.status) == ("out_of_scope", 404)
    # The bureau's leader is above the accused squad: he reads and notes it.
    assert run(routed, "note", NotePayload(text="seen"), UNIT_LEADER).case.version == routed.version + 1
    co_member = Actor(
        user_id=40, role="squad_member", district_id=DISTRICT, unit_id=CO, unit_ids=frozenset({CO})
    )
    assert run(routed, "accept", who=co_member).case.assignee_id == 40


def test_an_accusation_is_never_assigned_to_someone_under_the_accused_unit() -> None:
    # Against the bureau's leader (his unit BUREAU): squad1 of LEAD, under the bureau, may not take it.
    against_leader = make_case(type="report", accused_user_id=7, accused_user_unit_id=BUREAU)
    under = {"accused_unit_ids": frozenset({BUREAU, LEAD, CO}), "unit_of_user": {MEMBER_ID: LEAD}}
    err = refused(
        against_leader, "dispatch", DispatchPayload(unit_id=OTHER_UNIT, assignee_id=MEMBER_ID), **under
    )
    assert (err.code, err.field, err.status) == ("accused_unit", "assignee_id", 422)
    routed = msgspec.structs.replace(against_leader, status="dispatched", lead_unit_id=OTHER_UNIT)
    err = refused(routed, "assign", AssignPayload(assignee_id=MEMBER_ID), AGENT, **under)
    assert (err.code, err.field) == ("accused_unit", "assignee_id")
    # Someone outside the bureau may.
    outside = {**under, "unit_of_user": {4: OTHER_UNIT}}
    assert run(routed, "assign", AssignPayload(assignee_id=4), AGENT, **outside).case.assignee_id == 4


def test_the_accused_persons_unit_is_refused_even_without_the_loaders_subtree() -> None:
    against_member = make_case(type="report", accused_user_id=MEMBER_ID, accused_user_unit_id=LEAD)
    err = refused(against_member, "dispatch", DispatchPayload(unit_id=CO, co_unit_ids=(LEAD,)))
    assert (err.code, err.field) == ("accused_unit", "co_unit_ids")


def test_an_accusation_is_led_by_a_unit_above_the_accused() -> None:
    bounds = {"accused_unit_ids": frozenset({LEAD}), "superior_unit_ids": frozenset({BUREAU})}
    err = refused(accusation(), "dispatch", DispatchPayload(unit_id=CO), **bounds)
    assert (err.code, err.field, err.status) == ("not_superior_unit", "unit_id", 422)
    # A sibling may still help as a co-unit.
    out = run(accusation(), "dispatch", DispatchPayload(unit_id=BUREAU, co_unit_ids=(CO,)), **bounds)
    assert (out.case.lead_unit_id, out.case.co_unit_ids) == (BUREAU, (CO,))


# --- purity, payloads -------------------------------------------------------------------------


def test_apply_returns_a_new_state_and_leaves_the_input_alone() -> None:
    case = make_case("registered")
    before = msgspec.structs.asdict(case)
    out = run(case, "dispatch", DispatchPayload(unit_id=LEAD))
    assert out.case is not case
    assert out.case.version == case.version + 1
    assert msgspec.structs.asdict(case) == before
    refused(case, "dispatch", DispatchPayload(unit_id=999))
    assert msgspec.structs.asdict(case) == before


def test_the_payload_must_match_the_action() -> None:
    err = refused(make_case("dispatched"), "return", NotePayload(text="x"), LEADER)
    assert (err.code, err.field) == ("invalid_payload", "payload")


def test_out_of_scope_comes_before_any_other_refusal() -> None:
    stranger = Actor(user_id=9, role="agent", district_id=2)
    assert (
        refused(make_case("archived"), "dispatch", DispatchPayload(unit_id=LEAD), stranger).code
        == "out_of_scope"
    )


def test_naive_server_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD), now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("action", "raw", "expected"),
    [
        ("accept", None, EmptyPayload()),
        ("accept", {}, EmptyPayload()),
        ("return", {"reason": "misrouted"}, ReturnPayload(reason="misrouted")),
        (
            "resolve",
            {"photo_ids": [str(BEFORE.id)], "note": "ok"},
            ResolvePayload(photo_ids=(BEFORE.id,), note="ok"),
        ),
        ("dispatch", {"unit_id": 10, "co_unit_ids": [11]}, DispatchPayload(unit_id=10, co_unit_ids=(11,))),
    ],
)
def test_parse_payload(action: str, raw: Any, expected: Payload) -> None:
    assert parse_payload(action, raw) == expected


@pytest.mark.parametrize(
    ("action", "raw", "field"),
    [
        ("return", {}, "reason"),
        ("dispatch", {"unit_id": "ten"}, "unit_id"),
        ("note", {"text": "x", "txt": "y"}, "txt"),
        ("callback", {"satisfaction": "meh"}, "satisfaction"),
        ("fly", {}, "action"),
        ("note", {"text": "x" * 2001}, "text"),
        ("return", {"reason": "x" * 1001}, "reason"),
        ("resolve", {"photo_ids": [], "note": "x" * 2001}, "note"),
        ("review", {"approved": False, "note": "x" * 2001}, "note"),
        ("callback", {"satisfaction": "satisfied", "note": "x" * 2001}, "note"),
        ("request_extension", {"days": 1, "reason": "x" * 1001}, "reason"),
        ("approve_extension", {"approved": True, "note": "x" * 2001}, "note"),
        ("answer", {"text": "x" * 4001}, "text"),
        ("dispatch", {"unit_id": 1, "co_unit_ids": list(range(21))}, "co_unit_ids"),
    ],
)
def test_parse_payload_refusals_name_the_field(action: str, raw: Any, field: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_payload(action, raw)
    assert (info.value.code, info.value.field, info.value.status) == ("invalid_payload", field, 422)


def test_limits_are_the_districts() -> None:
    shorter = TimeLimits(return_days=1)
    case = run(make_case(), "dispatch", DispatchPayload(unit_id=LEAD), limits=shorter).case
    assert case.return_by == local(3, 5)


# --- urgency changes outside the life cycle ---------------------------------------------------


def test_an_important_repeat_gets_the_important_limit_from_the_same_dispatch() -> None:
    # Dispatched Mon 2 March (Tue 3 is a holiday): 5 working days end with Tue 10, 7 with Thu 12.
    case = run(make_case("registered"), "dispatch", DispatchPayload(unit_id=LEAD)).case
    assert case.due_at == local(3, 11) and case.due_days == 5
    moved = deadline_for_urgency(case, "important", CAL, TimeLimits(), None)
    assert moved["due_at"] == local(3, 13) and moved["due_days"] == 7
    extended = msgspec.structs.replace(case, due_days=7)  # two approved extension days
    assert deadline_for_urgency(extended, "important", CAL, TimeLimits(), None)["due_days"] == 9
    assert deadline_for_urgency(make_case("registered"), "important", CAL, TimeLimits(), None) == {}


def test_refusal_needs_a_reason_and_records_it() -> None:
    err = refused(make_case(), "refuse", RefusePayload(reason="   "))
    assert (err.code, err.field) == ("invalid_payload", "reason")
    out = apply(
        make_case(), Command(action="refuse", payload=RefusePayload(reason="outside the remit")), AGENT, ctx()
    )
    assert (out.case.status, out.case.disposition, out.case.closed_at) == ("closed", "refused", NOW)
    assert out.event.note == "outside the remit"


def test_a_merged_case_closes_naming_the_case_it_joined_and_never_into_itself() -> None:
    case = make_case()
    into = uuid.UUID(int=99)
    out = apply(
        case, Command(action="merge", payload=MergePayload(into=into, ticket="2026-000007")), AGENT, ctx()
    )
    assert (out.case.status, out.case.disposition, out.case.merged_into) == (
        "closed",
        "merged",
        "2026-000007",
    )
    assert out.case.lead_unit_id is None and out.case.due_at is None
    assert out.event.data == {"into": str(into), "ticket": "2026-000007"}
    with pytest.raises(DomainError) as refused:
        apply(
            case,
            Command(action="merge", payload=MergePayload(into=case.id, ticket="2026-000007")),
            AGENT,
            ctx(),
        )
    assert refused.value.code == "invalid_payload" and refused.value.field == "into"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"into": str(into), "ticket": "7"}, MergePayload)


def test_a_referral_is_closed_as_referred_and_never_dispatched() -> None:
    out = apply(
        make_case(), Command(action="refer", payload=ReferPayload(to="110", number="J-7")), AGENT, ctx()
    )
    assert (out.case.status, out.case.disposition, out.case.referred_to) == ("closed", "referred", "110")
    assert out.case.lead_unit_id is None and out.case.due_at is None
    assert out.event.data == {"to": "110", "number": "J-7"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"to": "999"}, ReferPayload)
