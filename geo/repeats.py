"""Likely repeats of a case, and linking one (DESIGN §9).

An earlier case is a likely repeat when it was registered within the district's `repeat_days`
before the new one (inclusive; archived cases are done with and left out), and either
- it has the same category and lies within `repeat_radius_m` (inclusive), or
- it came from the same caller (same phone digits, not anonymous) about the same place: within
  the same radius, or at the same address as typed (case and spaces aside) when a point is missing.
Distances are geodesic (`geography`, WGS84 spheroid); a bounding-box test on the geometry first
lets the GiST index on `cases.location` find the neighbours. Candidates the agent may not see
(an accusation against them) are never listed.

An agent confirms a repeat with `link_repeat`: the case records `repeat_of` and becomes
`important` (an `urgent` case stays urgent), as one versioned change with its event. Only an
accusation may repeat an accusation; a reader who may not see the earlier case is never shown
the link (`server.cases.service.case_views`).

The query reads the probe from one row (`probe`), so each test below is fixed SQL text over
`c` (the candidate) and `probe`, and a test that cannot apply (no point, no category, no phone)
is simply left out.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import INTAKE_ROLES
from server.cases import service as cases
from server.cases.schemas import CaseOut
from server.cases.scope import visibility_sql
from server.db import fetch, transaction
from server.errors import DomainError

__all__ = [
    "RepeatCandidate",
    "RepeatProbe",
    "RepeatRules",
    "district_rules",
    "find_repeats",
    "likely_repeats",
    "link_repeat",
]

# Metres per degree of latitude, rounded down so the bounding box is never too small.
_M_PER_DEGREE = 110_000.0
Reason = Literal["same_category_nearby", "same_caller_same_place"]
_REASONS: tuple[Reason, ...] = ("same_category_nearby", "same_caller_same_place")


class RepeatRules(msgspec.Struct, frozen=True):
    radius_m: float = 100.0
    days: int = 30


class RepeatProbe(msgspec.Struct, frozen=True, kw_only=True):
    """What a new case says about itself; `at` is its registration time."""

    district_id: int
    at: datetime
    category_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    phone: str = ""
    address: str = ""
    exclude_id: uuid.UUID | None = None


class RepeatCandidate(msgspec.Struct, kw_only=True):
    case_id: uuid.UUID
    ticket: str
    status: str
    category_id: int | None
    registered_at: datetime
    distance_m: float | None
    reasons: list[Reason]


async def district_rules(district_id: int) -> RepeatRules:
    rows = await fetch("SELECT repeat_radius_m, repeat_days FROM districts WHERE id = {}", district_id)
    if not rows:
        return RepeatRules()
    return RepeatRules(radius_m=rows[0]["repeat_radius_m"], days=rows[0]["repeat_days"])


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def _typed_address(address: str) -> str:
    """An address as compared: lower case, runs of spaces as one (the SQL below does the same)."""
    return " ".join(address.lower().split())


# Within the radius: a box a little larger than the circle (degrees at this latitude) lets the
# GiST index on `cases.location` find the neighbours; the geodesic test then decides.
_NEAR = (
    "(c.location && ST_Expand(probe.point, probe.dx, probe.dy) "
    "AND ST_DWithin(c.location::geography, probe.point::geography, probe.radius_m))"
)
_SAME_ADDRESS = r"lower(regexp_replace(btrim(c.address), '\s+', ' ', 'g')) = probe.address"
_SAME_CALLER = (
    r"(NOT c.anonymous AND regexp_replace(c.complainant_phone, '\D', '', 'g') = probe.phone AND (%s))"
)
_DISTANCE = "ST_Distance(c.location::geography, probe.point::geography)"


def _tests(probe: RepeatProbe) -> dict[Reason, str]:
    """The SQL test of each reason that can apply to this probe."""
    located = probe.lat is not None and probe.lon is not None
    tests: dict[Reason, str] = {}
    if located and probe.category_id is not None:
        tests["same_category_nearby"] = f"(c.category_id = probe.category_id AND {_NEAR})"
    same_place = [
        t
        for t, applies in ((_NEAR, located), (_SAME_ADDRESS, bool(_typed_address(probe.address))))
        if applies
    ]
    if _digits(probe.phone) and same_place:
        tests["same_caller_same_place"] = _SAME_CALLER % " OR ".join(same_place)
    return tests


def _box(probe: RepeatProbe, rules: RepeatRules) -> tuple[float, float]:
    """Half the width and height in degrees of a box holding the circle around the probe."""
    dy = rules.radius_m / _M_PER_DEGREE
    dx = dy / max(math.cos(math.radians(min(abs(probe.lat or 0.0), 89.0))), 0.01)
    return dx, dy


# Slots: reasons (one boolean column per test), visible, any (the tests OR-ed), distance.
# Arguments: the probe row's seven values, visibility's, district id, window start and end, the
# excluded id, limit.
_REPEATS = """
SELECT c.id, c.ticket, c.status, c.category_id, c.registered_at, %(distance)s AS distance_m%(reasons)s
FROM cases c,
     (SELECT ST_SetSRID(ST_MakePoint({}::float8, {}::float8), 4326) AS point, {}::float8 AS radius_m,
             {}::float8 AS dx, {}::float8 AS dy, {}::integer AS category_id, {}::text AS phone,
             {}::text AS address) AS probe
WHERE %(visible)s AND c.district_id = {} AND c.status <> 'archived'
  AND c.registered_at >= {} AND c.registered_at <= {}
  AND (%(any)s)
  AND c.id IS DISTINCT FROM {}::uuid
ORDER BY distance_m ASC NULLS LAST, c.registered_at DESC, c.id
LIMIT {}
"""


def _query(probe: RepeatProbe, tests: dict[Reason, str], visible: str) -> str:
    located = probe.lat is not None and probe.lon is not None
    return _REPEATS % {
        "distance": _DISTANCE if located else "NULL::float8",
        "reasons": "".join(f", {test} AS {reason}" for reason, test in tests.items()),
        "visible": visible,
        "any": " OR ".join(tests.values()),
    }


def _arguments(probe: RepeatProbe, rules: RepeatRules, visible_args: list[Any], limit: int) -> list[Any]:
    dx, dy = _box(probe, rules)
    probe_row: list[Any] = [probe.lon, probe.lat, rules.radius_m, dx, dy, probe.category_id]
    probe_row += [_digits(probe.phone), _typed_address(probe.address)]
    window = [probe.at - timedelta(days=rules.days), probe.at]
    return [*probe_row, *visible_args, probe.district_id, *window, probe.exclude_id, limit]


def _candidate(row: dict[str, Any], tests: dict[Reason, str]) -> RepeatCandidate:
    distance = row["distance_m"]
    return RepeatCandidate(
        case_id=row["id"],
        ticket=row["ticket"],
        status=row["status"],
        category_id=row["category_id"],
        registered_at=row["registered_at"],
        distance_m=round(distance, 1) if distance is not None else None,
        reasons=[reason for reason in _REASONS if reason in tests and row[reason]],
    )


async def likely_repeats(
    probe: RepeatProbe,
    actor: Actor,
    *,
    rules: RepeatRules | None = None,
    limit: int = 20,
) -> list[RepeatCandidate]:
    """Earlier cases the probe likely repeats, nearest first, as the actor may see them."""
    tests = _tests(probe)
    if not tests:
        return []
    rules = rules or await district_rules(probe.district_id)
    visible, visible_args = visibility_sql(actor)
    rows = await fetch(_query(probe, tests, visible), *_arguments(probe, rules, visible_args, limit))
    return [_candidate(r, tests) for r in rows]


async def find_repeats(case_id: uuid.UUID, actor: Actor, *, limit: int = 20) -> list[RepeatCandidate]:
    """Likely repeats of a registered case (an agent looks right after registering it)."""
    require_role(actor, INTAKE_ROLES, "judge repeats")
    # Intake roles see the complainant's number in full (FULL_PHONE_ROLES), so it can be compared.
    case = await cases.visible_case(case_id, actor)
    probe = RepeatProbe(
        district_id=actor.district_id,
        at=case.registered_at,
        category_id=case.category_id,
        lat=case.lat,
        lon=case.lon,
        phone="" if case.anonymous else case.complainant_phone,
        address=case.address,
        exclude_id=case.id,
    )
    return await likely_repeats(probe, actor, limit=limit)


def _check_link(case: CaseOut, original: CaseOut) -> None:
    """A case repeats at most one case, registered before it, that does not repeat it back; only an
    accusation repeats an accusation: the link travels with the case to everyone who reads it, whom
    an accusation's negative keys do not bind, so a complaint never names one (DESIGN §3)."""
    if original.type == "report" and case.type != "report":
        raise DomainError("accusation_link", "only an accusation may repeat an accusation", "repeat_of", 422)
    if case.repeat_of is not None:
        raise DomainError("already_linked", f"the case already repeats {case.repeat_of}", "repeat_of", 409)
    if original.registered_at > case.registered_at or original.repeat_of == case.id:
        raise DomainError("not_earlier", "a case can only repeat one registered before it", "repeat_of", 422)


async def link_repeat(
    case_id: uuid.UUID, repeat_of: uuid.UUID, actor: Actor, *, now: datetime | None = None
) -> CaseOut:
    """Record that `case_id` repeats the earlier `repeat_of`; the case becomes important.
    Returns the case as the actor now sees it; linking the same pair again changes nothing."""
    require_role(actor, INTAKE_ROLES, "judge repeats")
    if repeat_of == case_id:
        raise DomainError("self_repeat", "a case cannot repeat itself", "repeat_of", 422)
    async with transaction():
        # Locked first, so two agents linking the same case at once cannot both see it unlinked.
        state = await cases.visible_state(case_id, actor, lock=True)
        case = await cases.visible_case(case_id, actor)
        original = await cases.case_view(repeat_of, actor)
        if original is None:
            raise DomainError("case_not_found", f"no case {repeat_of} in your scope", "repeat_of", 404)
        if case.repeat_of == repeat_of:
            return case
        _check_link(case, original)
        await cases.amend(
            case_id,
            actor,
            "link_repeat",
            {"urgency": "important"} if state.urgency == "normal" else {},
            columns={"repeat_of": repeat_of},
            data={"repeat_of": str(repeat_of), "ticket": original.ticket},
            note=f"repeat of {original.ticket}",
            now=now,
        )
        return await cases.visible_case(case_id, actor)
