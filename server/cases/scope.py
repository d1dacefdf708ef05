"""Who sees which case (DESIGN §1, §3), as scope keys the database can index.

A case carries `scope_keys` (a `text[]` column with a GIN index) and an actor has a set of keys;
the actor may read the case when the sets intersect. The sync pull filters with
`scope_keys && :allow AND NOT scope_keys && :deny` (`actor_scope_keys`, `actor_deny_keys`), so
the index does the work and `can_see` below is the very same rule in Python.

Accusations (`report`, 举报) carry negative keys naming the accused person (`accused_user:<id>`)
and the accused units (`accused_unit:<id>`: the accused unit and the unit the accused person sat
in when the case was registered). An actor is denied a case carrying `accused_unit:<a>` for
their own unit and every unit above it, and `accused_user:<id>` for themselves: so nobody at or
under an accused unit reads the accusation, whatever key (cell, unit, co-unit, assignee) would
show it, while the leaders above it, who must handle it (seed 002), still do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.accounts.domain import Actor
from server.cases.domain import CaseState

__all__ = [
    "actor_deny_keys",
    "actor_scope_keys",
    "can_see",
    "case_scope_keys",
    "denied_sql",
    "displayed_phone",
    "mask_phone",
    "phone_visible",
    "sees_keys",
    "visibility_sql",
]

# Roles that read the whole district; everyone else reads through units, grids or assignment.
_DISTRICT_ROLES = frozenset({"agent", "district_admin", "evaluator"})
# Complaint-office roles that see a complainant's number in full; the units handling or
# leading the case (field roles and unit leaders) only see it with the complainant's consent.
_FULL_PHONE_ROLES = frozenset({"agent", "district_admin", "evaluator"})
# At least this many characters of a number are always hidden.
_MIN_HIDDEN = 4
_MAX_HEAD, _MAX_TAIL = 3, 4


def _district(district_id: int) -> str:
    return f"district:{district_id}"


def _units(unit_ids: Iterable[int | None]) -> list[str]:
    return [f"unit:{u}" for u in unit_ids if u is not None]


def _field_keys(case: CaseState) -> list[str]:
    """Keys of the people handling the case; an archived case has left every handheld."""
    if case.status == "archived":
        return []
    keys = _units((case.lead_unit_id, *case.co_unit_ids))
    if case.grid_id is not None:
        keys.append(f"grid:{case.grid_id}")
    keys += [f"user:{u}" for u in (case.assignee_id, case.reported_by) if u is not None]
    return keys


def _accused_keys(case: CaseState) -> list[str]:
    if case.type != "report":
        return []
    keys = [f"accused_unit:{u}" for u in (case.accused_unit_id, case.accused_user_unit_id) if u is not None]
    if case.accused_user_id is not None:
        keys.append(f"accused_user:{case.accused_user_id}")
    return keys


def case_scope_keys(case: CaseState) -> tuple[str, ...]:
    """Every key of the case, sorted and deduplicated: store them in `cases.scope_keys`.

    `accused_*` keys are negative (see `actor_deny_keys`); they stay on an archived case.
    """
    return tuple(sorted({_district(case.district_id), *_field_keys(case), *_accused_keys(case)}))


def _squad_keys(actor: Actor) -> list[str]:
    return _units((actor.unit_id,))


_ACTOR_KEYS = {
    "agent": lambda a: [_district(a.district_id)],
    "district_admin": lambda a: [_district(a.district_id)],
    "evaluator": lambda a: [_district(a.district_id)],
    "grid_worker": lambda a: [f"grid:{g}" for g in a.grid_ids],
    "squad_member": _squad_keys,
    "squad_leader": _squad_keys,
    # The loader puts the unit and its subtree in `unit_ids`.
    "unit_leader": lambda a: _units((a.unit_id, *a.unit_ids)),
}


def actor_scope_keys(actor: Actor) -> tuple[str, ...]:
    """The keys an actor reads through, sorted and deduplicated.

    Every non-district role also reads the cases assigned to them personally (`user:<id>`).
    """
    keys = set(_ACTOR_KEYS[actor.role](actor))
    if actor.role not in _DISTRICT_ROLES:
        keys.add(f"user:{actor.user_id}")
    return tuple(sorted(keys))


def actor_deny_keys(actor: Actor) -> tuple[str, ...]:
    """Negative keys: accusations against this person, their unit or any unit above it are never
    shown. A leader's subtree is not among them: the leader above an accused unit handles it."""
    units = {actor.unit_id, *actor.unit_chain} - {None}
    return tuple(sorted({f"accused_user:{actor.user_id}", *(f"accused_unit:{u}" for u in units)}))


def can_see(actor: Actor, case: CaseState) -> bool:
    """Same district, a shared key, and not accused by the case."""
    return sees_keys(actor, case.district_id, case_scope_keys(case))


def sees_keys(actor: Actor, district_id: int, case_keys: Iterable[str]) -> bool:
    """`can_see` for a case known by its stored district and `scope_keys` (a linked case)."""
    if actor.district_id != district_id:
        return False
    keys = set(case_keys)
    return not keys.isdisjoint(actor_scope_keys(actor)) and keys.isdisjoint(actor_deny_keys(actor))


def visibility_sql(actor: Actor) -> tuple[str, list[Any]]:
    """The SQL twin of `can_see`, so lists and pulls filter in the database (GIN index)."""
    clause = "district_id = {} AND scope_keys && {}::varchar[] AND NOT scope_keys && {}::varchar[]"
    return clause, [actor.district_id, list(actor_scope_keys(actor)), list(actor_deny_keys(actor))]


def denied_sql(actor: Actor) -> tuple[str, list[Any]]:
    """Cases that deny the actor (an accusation against them or a unit at or above theirs). A case's
    accused never change, so the actor never saw such a case: no tombstone may name it."""
    return "scope_keys && {}::varchar[]", [list(actor_deny_keys(actor))]


def mask_phone(phone: str | None) -> str:
    """`13812345678` → `138****5678`.

    Spaces and dashes are dropped; at least four characters, and everything beyond the first three
    and last four, are hidden, so short numbers keep less: `87654321` → `87****21`, and a number
    of four characters or fewer is all stars.
    """
    digits = "".join((phone or "").split()).replace("-", "")
    if not digits:
        return ""
    hidden = min(len(digits), max(_MIN_HIDDEN, len(digits) - _MAX_HEAD - _MAX_TAIL))
    shown = len(digits) - hidden
    tail = min(_MAX_TAIL, (shown + 1) // 2)
    head = shown - tail
    return digits[:head] + "*" * hidden + digits[len(digits) - tail :]


def phone_visible(actor: Actor, contact_consent: bool) -> bool:
    """Whether the actor sees the complainant's number in full (else `mask_phone`)."""
    return contact_consent or actor.role in _FULL_PHONE_ROLES


def displayed_phone(actor: Actor, phone: str | None, contact_consent: bool) -> str:
    """The number as this actor may see it."""
    return (phone or "") if phone_visible(actor, contact_consent) else mask_phone(phone)
