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
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Literal

import msgspec
from sqlalchemy import Float, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from geo.tables import CASES, DISTRICTS, case_visibility, engine
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.cases import service as cases
from server.cases.domain import CaseState
from server.db import transaction
from server.errors import DomainError
from server.tables import Case

__all__ = [
    "RepeatCandidate",
    "RepeatProbe",
    "RepeatRules",
    "district_rules",
    "find_repeats",
    "likely_repeats",
    "link_repeat",
]

_INTAKE = frozenset({"agent", "district_admin"})
# Metres per degree of latitude, rounded down so the bounding box is never too small.
_M_PER_DEGREE = 110_000.0
Reason = Literal["same_category_nearby", "same_caller_same_place"]


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


async def district_rules(conn: AsyncConnection, district_id: int) -> RepeatRules:
    row = (
        await conn.execute(
            select(DISTRICTS.c.repeat_radius_m, DISTRICTS.c.repeat_days).where(DISTRICTS.c.id == district_id)
        )
    ).first()
    return RepeatRules(radius_m=row.repeat_radius_m, days=row.repeat_days) if row else RepeatRules()


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def _same_address(column, address: str):
    """Typed addresses compared without case or extra spaces; None when the probe has none."""
    wanted = " ".join(address.lower().split())
    if not wanted:
        return None
    return func.lower(func.regexp_replace(func.btrim(column), r"\s+", " ", "g")) == wanted


async def likely_repeats(
    probe: RepeatProbe,
    actor: Actor,
    *,
    rules: RepeatRules | None = None,
    limit: int = 20,
) -> list[RepeatCandidate]:
    """Earlier cases the probe likely repeats, nearest first, as the actor may see them."""
    async with engine().connect() as conn:
        rules = rules or await district_rules(conn, probe.district_id)
        c = CASES.c
        near = None
        if probe.lat is not None and probe.lon is not None:
            point = func.ST_SetSRID(
                func.ST_MakePoint(bindparam("lon", probe.lon, Float), bindparam("lat", probe.lat, Float)),
                4326,
            )
            # A box a little larger than the circle, in degrees at this latitude, for the index.
            dy = rules.radius_m / _M_PER_DEGREE
            dx = dy / max(math.cos(math.radians(min(abs(probe.lat), 89.0))), 0.01)
            distance = func.ST_Distance(func.Geography(c.location), func.Geography(point))
            near = and_(
                c.location.op("&&")(func.ST_Expand(point, dx, dy)),
                func.ST_DWithin(func.Geography(c.location), func.Geography(point), rules.radius_m),
            )
        else:
            distance = literal(None, Float)
        same_category = None
        if probe.category_id is not None and near is not None:
            same_category = and_(c.category_id == probe.category_id, near)
        same_place = [t for t in (near, _same_address(c.address, probe.address)) if t is not None]
        same_caller = None
        if _digits(probe.phone) and same_place:
            same_caller = and_(
                ~c.anonymous,
                func.regexp_replace(c.complainant_phone, r"\D", "", "g") == _digits(probe.phone),
                or_(*same_place),
            )
        tests: list[tuple[Reason, ColumnElement[bool]]] = [
            (name, t)
            for name, t in (("same_category_nearby", same_category), ("same_caller_same_place", same_caller))
            if t is not None
        ]
        if not tests:
            return []
        window = and_(c.registered_at >= probe.at - timedelta(days=rules.days), c.registered_at <= probe.at)
        query = (
            select(
                c.id,
                c.ticket,
                c.status,
                c.category_id,
                c.registered_at,
                distance.label("distance_m"),
                *(case((t, True), else_=False).label(name) for name, t in tests),
            )
            .where(
                case_visibility(actor),
                c.district_id == probe.district_id,
                c.status != "archived",
                window,
                or_(*(t for _, t in tests)),
            )
            .order_by(distance.asc().nulls_last(), c.registered_at.desc(), c.id)
            .limit(limit)
        )
        if probe.exclude_id is not None:
            query = query.where(c.id != probe.exclude_id)
        rows = (await conn.execute(query)).all()
    return [
        RepeatCandidate(
            case_id=r.id,
            ticket=r.ticket,
            status=r.status,
            category_id=r.category_id,
            registered_at=r.registered_at,
            distance_m=round(r.distance_m, 1) if r.distance_m is not None else None,
            reasons=[name for name, _ in tests if r._mapping[name]],
        )
        for r in rows
    ]


async def _visible_row(case_id: uuid.UUID, actor: Actor, field: str, lock: bool = False) -> dict:
    clause, args = cases.visibility_sql(actor)
    rows = await Case.raw(
        f"SELECT * FROM cases WHERE id = {{}} AND {clause}{' FOR UPDATE' if lock else ''}", case_id, *args
    )
    if not rows:
        raise DomainError("case_not_found", f"no case {case_id} in your scope", field, 404)
    return rows[0]


async def find_repeats(case_id: uuid.UUID, actor: Actor, *, limit: int = 20) -> list[RepeatCandidate]:
    """Likely repeats of a registered case (an agent looks right after registering it)."""
    require_role(actor, _INTAKE, "judge repeats")
    row = await _visible_row(case_id, actor, "case_id")
    probe = RepeatProbe(
        district_id=row["district_id"],
        at=row["registered_at"],
        category_id=row["category_id"],
        lat=row["lat"],
        lon=row["lon"],
        phone="" if row["anonymous"] else row["complainant_phone"],
        address=row["address"],
        exclude_id=row["id"],
    )
    return await likely_repeats(probe, actor, limit=limit)


async def link_repeat(
    case_id: uuid.UUID, repeat_of: uuid.UUID, actor: Actor, *, now: datetime | None = None
) -> CaseState:
    """Record that `case_id` repeats the earlier `repeat_of`; the case becomes important."""
    require_role(actor, _INTAKE, "judge repeats")
    if repeat_of == case_id:
        raise DomainError("self_repeat", "a case cannot repeat itself", "repeat_of", 422)
    async with transaction():
        row = await _visible_row(case_id, actor, "case_id", lock=True)
        original = await _visible_row(repeat_of, actor, "repeat_of")
        if row["repeat_of"] == repeat_of:
            return cases.state_from_row(row)
        if row["repeat_of"] is not None:
            raise DomainError(
                "already_linked", f"the case already repeats {row['repeat_of']}", "repeat_of", 409
            )
        # The link travels with the case to everyone who reads it, whom an accusation's negative
        # keys do not bind: a complaint never names an accusation (DESIGN §3).
        if original["type"] == "report" and row["type"] != "report":
            raise DomainError(
                "accusation_link", "only an accusation may repeat an accusation", "repeat_of", 422
            )
        if original["registered_at"] > row["registered_at"] or original["repeat_of"] == case_id:
            raise DomainError(
                "not_earlier", "a case can only repeat one registered before it", "repeat_of", 422
            )
        changes = {"urgency": "important"} if row["urgency"] == "normal" else {}
        return await cases.amend(
            case_id,
            actor,
            "link_repeat",
            changes,
            columns={"repeat_of": repeat_of},
            data={"repeat_of": str(repeat_of), "ticket": original["ticket"]},
            note=f"repeat of {original['ticket']}",
            now=now,
        )
