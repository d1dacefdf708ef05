"""Who sees which case (DESIGN §1, §3): scope keys, `can_see`, phone masking."""

from __future__ import annotations

import uuid

import pytest

from server.accounts.domain import Actor
from server.cases.domain import CaseState
from server.cases.scope import (
    actor_deny_keys,
    actor_scope_keys,
    can_see,
    case_scope_keys,
    displayed_phone,
    mask_phone,
    phone_visible,
)

DISTRICT, OTHER_DISTRICT = 1, 2
# ROOT (the office) → BUREAU → LEAD, CO; ROOT → OTHER_UNIT.
ROOT, BUREAU, LEAD, CO, OTHER_UNIT = 8, 9, 10, 11, 12
CHAIN = {ROOT: {ROOT}, BUREAU: {BUREAU, ROOT}, LEAD: {LEAD, BUREAU, ROOT}, CO: {CO, BUREAU, ROOT}}
CHAIN[OTHER_UNIT] = {OTHER_UNIT, ROOT}
CELL, OTHER_CELL = 100, 101


def make_case(**kw: object) -> CaseState:
    base: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "district_id": DISTRICT,
        "ticket": "2026-000001",
        "type": "complaint",
        "category_id": 1,
        "status": "dispatched",
        "grid_id": CELL,
        "lead_unit_id": LEAD,
        "co_unit_ids": (CO,),
        "assignee_id": 5,
    }
    return CaseState(**(base | kw))  # type: ignore[arg-type]


def actor(role: str, user_id: int = 50, **kw: object) -> Actor:
    """An actor as the loader makes one: a unit brings its chain up to the root."""
    unit = kw.get("unit_id")
    if isinstance(unit, int) and "unit_chain" not in kw:
        kw["unit_chain"] = frozenset(CHAIN[unit])
    return Actor(user_id=user_id, role=role, district_id=kw.pop("district_id", DISTRICT), **kw)  # type: ignore[arg-type]


AGENT = actor("agent", 1)
ADMIN = actor("district_admin", 2)
EVALUATOR = actor("evaluator", 3)
WORKER = actor("grid_worker", 4, grid_ids=frozenset({CELL}))
MEMBER = actor("squad_member", 5, unit_id=LEAD, unit_ids=frozenset({LEAD}))
LEADER = actor("squad_leader", 6, unit_id=LEAD, unit_ids=frozenset({LEAD}))
UNIT_LEADER = actor("unit_leader", 7, unit_id=BUREAU, unit_ids=frozenset({BUREAU, LEAD, CO}))


# --- case keys --------------------------------------------------------------------------------


def test_dispatched_case_keys_name_district_cell_units_and_assignee_sorted() -> None:
    assert case_scope_keys(make_case()) == ("district:1", "grid:100", "unit:10", "unit:11", "user:5")


def test_registered_case_without_routing_has_district_and_cell_only() -> None:
    case = make_case(status="registered", lead_unit_id=None, co_unit_ids=(), assignee_id=None)
    assert case_scope_keys(case) == ("district:1", "grid:100")


def test_keys_are_deduplicated() -> None:
    assert case_scope_keys(make_case(co_unit_ids=(CO, CO, LEAD))).count("unit:10") == 1


def test_archived_case_leaves_every_handheld() -> None:
    assert case_scope_keys(make_case(status="archived")) == ("district:1",)


def test_a_report_carries_negative_keys_for_the_accused_even_archived() -> None:
    case = make_case(type="report", status="archived", accused_user_id=77, accused_unit_id=OTHER_UNIT)
    assert case_scope_keys(case) == ("accused_unit:12", "accused_user:77", "district:1")


def test_accused_fields_on_other_types_add_no_keys() -> None:
    assert not any(k.startswith("accused") for k in case_scope_keys(make_case(accused_user_id=77)))


def test_keys_fit_the_varchar_48_column() -> None:
    case = make_case(type="report", accused_user_id=2**62, accused_unit_id=2**62, assignee_id=2**62)
    assert max(len(k) for k in case_scope_keys(case)) <= 48


# --- actor keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "keys"),
    [
        (AGENT, ("district:1",)),
        (ADMIN, ("district:1",)),
        (EVALUATOR, ("district:1",)),
        (actor("grid_worker", 4, grid_ids=frozenset({CELL, OTHER_CELL})), ("grid:100", "grid:101", "user:4")),
        (MEMBER, ("unit:10", "user:5")),
        (LEADER, ("unit:10", "user:6")),
        (UNIT_LEADER, ("unit:10", "unit:11", "unit:9", "user:7")),
    ],
    ids=lambda v: v.role if isinstance(v, Actor) else None,
)
def test_actor_keys_per_role(who: Actor, keys: tuple[str, ...]) -> None:
    assert actor_scope_keys(who) == keys


def test_deny_keys_name_the_person_their_unit_and_every_unit_above_it() -> None:
    assert actor_deny_keys(MEMBER) == (
        "accused_unit:10",
        "accused_unit:8",
        "accused_unit:9",
        "accused_user:5",
    )
    # Not the units below a leader: the leader above an accused unit is the one who handles it.
    assert actor_deny_keys(UNIT_LEADER) == ("accused_unit:8", "accused_unit:9", "accused_user:7")
    assert actor_deny_keys(WORKER) == ("accused_user:4",)


def test_a_report_against_a_person_is_also_against_their_unit() -> None:
    case = make_case(type="report", accused_user_id=77, accused_user_unit_id=LEAD)
    assert {"accused_user:77", "accused_unit:10"} <= set(case_scope_keys(case))


# --- can_see ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", [AGENT, ADMIN, EVALUATOR, WORKER, MEMBER, LEADER, UNIT_LEADER], ids=lambda a: a.role
)
def test_everyone_involved_sees_a_dispatched_case(who: Actor) -> None:
    assert can_see(who, make_case())


@pytest.mark.parametrize(
    "who",
    [
        actor("agent", 1, district_id=OTHER_DISTRICT),
        actor("district_admin", 2, district_id=OTHER_DISTRICT),
        actor("grid_worker", 4, grid_ids=frozenset({OTHER_CELL})),
        actor("squad_member", 8, unit_id=OTHER_UNIT, unit_ids=frozenset({OTHER_UNIT})),
        actor("squad_leader", 9, unit_id=OTHER_UNIT, unit_ids=frozenset({OTHER_UNIT})),
        actor("unit_leader", 9, unit_id=OTHER_UNIT, unit_ids=frozenset({OTHER_UNIT})),
    ],
    ids=lambda a: f"{a.role}-elsewhere",
)
def test_nobody_outside_sees_it(who: Actor) -> None:
    assert not can_see(who, make_case())


def test_another_district_never_sees_even_with_matching_keys() -> None:
    stranger = actor("grid_worker", 4, district_id=OTHER_DISTRICT, grid_ids=frozenset({CELL}))
    assert not can_see(stranger, make_case())


def test_a_personally_assigned_user_of_another_unit_sees_it() -> None:
    helper = actor("squad_member", 5, unit_id=OTHER_UNIT, unit_ids=frozenset({OTHER_UNIT}))
    assert can_see(helper, make_case(assignee_id=5))
    assert not can_see(helper, make_case(assignee_id=None))


def test_squad_loses_an_undispatched_or_archived_case_but_the_office_keeps_it() -> None:
    returned = make_case(status="registered", lead_unit_id=None, co_unit_ids=(), assignee_id=None)
    archived = make_case(status="archived")
    for case in (returned, archived):
        assert not can_see(MEMBER, case)
        assert not can_see(LEADER, case)
        assert can_see(AGENT, case)
    assert can_see(WORKER, returned)
    assert not can_see(WORKER, archived)


def test_accused_person_never_sees_the_accusation_even_as_district_admin() -> None:
    case = make_case(type="report", accused_user_id=ADMIN.user_id)
    assert not can_see(ADMIN, case)
    assert can_see(AGENT, case)


def test_the_accused_unit_never_sees_the_accusation_but_the_leader_above_it_does() -> None:
    case = make_case(
        type="report", lead_unit_id=BUREAU, co_unit_ids=(CO,), accused_unit_id=LEAD, assignee_id=None
    )
    assert not can_see(MEMBER, case)
    assert not can_see(LEADER, case)
    # The bureau above the accused squad handles it (seed 002), and its co-unit helps.
    assert can_see(UNIT_LEADER, case)
    assert can_see(actor("squad_member", 8, unit_id=CO, unit_ids=frozenset({CO})), case)


def test_nobody_under_an_accused_unit_sees_it_whatever_key_would_show_it() -> None:
    # Against the bureau: its squads are under it, as lead, co-unit, assignee or in their own cell.
    in_lead = actor("squad_member", 5, unit_id=LEAD, unit_ids=frozenset({LEAD}))
    in_co = actor("squad_leader", 6, unit_id=CO, unit_ids=frozenset({CO}))
    worker = actor("grid_worker", 4, unit_id=LEAD, grid_ids=frozenset({CELL}))
    case = make_case(
        type="report", lead_unit_id=LEAD, co_unit_ids=(CO,), assignee_id=5, accused_unit_id=BUREAU
    )
    for who in (in_lead, in_co, worker, UNIT_LEADER):
        assert not can_see(who, case), who
    assert can_see(AGENT, case)


def test_nobody_in_or_under_the_accused_persons_unit_sees_it() -> None:
    # Against the bureau's leader: the bureau and its squads are his; the office above reads it.
    case = make_case(
        type="report",
        lead_unit_id=ROOT,
        co_unit_ids=(LEAD,),
        accused_user_id=UNIT_LEADER.user_id,
        accused_user_unit_id=BUREAU,
    )
    for who in (UNIT_LEADER, MEMBER, LEADER, actor("grid_worker", 4, unit_id=CO, grid_ids=frozenset({CELL}))):
        assert not can_see(who, case), who
    assert can_see(actor("unit_leader", 30, unit_id=ROOT, unit_ids=frozenset({ROOT, BUREAU, LEAD})), case)


def test_accused_person_is_hidden_even_when_assigned_or_owning_the_cell() -> None:
    assert not can_see(
        MEMBER, make_case(type="report", accused_user_id=MEMBER.user_id, assignee_id=MEMBER.user_id)
    )
    assert not can_see(WORKER, make_case(type="report", accused_user_id=WORKER.user_id))


def test_accused_fields_on_a_complaint_hide_nothing() -> None:
    assert can_see(MEMBER, make_case(accused_user_id=MEMBER.user_id, accused_unit_id=LEAD))


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+8613812345678", "+86*******5678"),
        ("87654321", "87****21"),
        ("1234567", "1****67"),
        ("12345", "****5"),
        ("1234", "****"),
        ("12", "**"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("phone", ["13812345678", "87654321", "1234567", "12345", "1234"])
def test_masking_always_hides_at_least_four_characters(phone: str) -> None:
    assert mask_phone(phone).count("*") >= 4


@pytest.mark.parametrize(
    ("who", "consent", "visible"),
    [
        (AGENT, False, True),
        (ADMIN, False, True),
        (EVALUATOR, False, True),
        (WORKER, False, False),
        (MEMBER, False, False),
        (LEADER, False, False),
        (UNIT_LEADER, False, False),
        (WORKER, True, True),
        (MEMBER, True, True),
        (UNIT_LEADER, True, True),
    ],
    ids=lambda v: v.role if isinstance(v, Actor) else str(v),
)
def test_phone_visible(who: Actor, consent: bool, visible: bool) -> None:
    assert phone_visible(who, consent) is visible


def test_displayed_phone_masks_for_field_roles_without_consent() -> None:
    assert displayed_phone(WORKER, "13812345678", False) == "138****5678"
    assert displayed_phone(WORKER, "13812345678", True) == "13812345678"
    assert displayed_phone(AGENT, "13812345678", False) == "13812345678"
