"""Loading, changing and storing cases: the one path every write takes (API, sync push, patrol report).

A write locks the case row, runs the pure life cycle (`server.lifecycle.apply`), stores the new
state with `version + 1`, appends its event, and records the scope keys the case left so that
handhelds receive tombstones. All of it commits together, inside the caller's transaction if
there is one (the sync push stores its mutation result in the same transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from server.accounts.domain import Actor
from server.calendar.deadlines import TimeLimits
from server.calendar.lights import light, light_sql, next_alert_at
from server.calendar.workdays import Calendar, CalendarYear
from server.cases import lifecycle
from server.cases.domain import OPEN_STATUSES, Action, CaseState, Location
from server.cases.schemas import (
    NO_ORIGIN,
    CaseAnswer,
    CaseCreate,
    CaseFilter,
    CaseOut,
    CasePage,
    CaseReceipt,
    EventOut,
    EventPage,
    Origin,
    PhotoOut,
    Registration,
)
from server.cases.scope import (
    can_see,
    case_scope_keys,
    mask_phone,
    phone_visible,
    sees_keys,
    visibility_sql,
)
from server.db import fetch, transaction
from server.errors import DomainError, StaleVersion
from server.photos.domain import PhotoMeta
from server.photos.limits import district_same_angle
from server.photos.links import attach_photos, photo_metas
from server.photos.same_angle import SameAngleRules
from server.tables import (
    CalendarYearRow,
    CaseDeparture,
    District,
)

__all__ = [
    "VIEW_COLUMNS",
    "VIEW_EVENTS",
    "AccusationBounds",
    "accusation_bounds",
    "act",
    "amend",
    "case_answer",
    "case_events",
    "case_view",
    "case_views",
    "district_calendar",
    "district_limits",
    "ids_in_district",
    "place",
    "list_cases",
    "load_state",
    "SystemEvent",
    "record_system_events",
    "register",
    "replan_deadlines",
    "state_from_row",
    "supervise",
    "transition",
    "visible_case",
    "visible_state",
]

_STATE_FIELDS = frozenset(CaseState.__struct_fields__)
# CaseState fields stored in their own columns (indexed or queried); the rest live in `state` JSONB.
_COLUMNS = frozenset(
    {
        "id",
        "district_id",
        "ticket",
        "type",
        "category_id",
        "urgency",
        "status",
        "version",
        "channel",
        "grid_id",
        "lead_unit_id",
        "co_unit_ids",
        "assignee_id",
        "accused_unit_id",
        "accused_user_id",
        "registered_at",
        "dispatched_at",
        "return_by",
        "due_at",
        "warn_at",
        "due_provisional",
        "arrive_by",
        "resolved_at",
        "closed_at",
        "supervised",
    }
)


def state_from_row(row: dict[str, Any]) -> CaseState:
    extra = row.get("state") or {}
    if isinstance(extra, str):
        extra = msgspec.json.decode(extra)
    values = {k: row[k] for k in _COLUMNS if k in row}
    values.update({k: v for k, v in extra.items() if k in _STATE_FIELDS and k not in _COLUMNS})
    values["has_contact"] = bool(row.get("complainant_phone")) and not row.get("anonymous", False)
    values["co_unit_ids"] = tuple(values.get("co_unit_ids") or ())
    return msgspec.convert(values, CaseState, from_attributes=False, strict=False)


def _row_values(state: CaseState) -> dict[str, Any]:
    values = {name: getattr(state, name) for name in _COLUMNS}
    values["co_unit_ids"] = list(state.co_unit_ids)
    values["state"] = msgspec.json.encode(
        {k: msgspec.to_builtins(getattr(state, k)) for k in _STATE_FIELDS - _COLUMNS - {"has_contact"}}
    ).decode()
    values["scope_keys"] = list(case_scope_keys(state))
    # Any write may owe an alert (a moved deadline, a closing): the alert worker looks again then.
    values["next_alert_at"] = next_alert_at(state)
    return values


class _DistrictRules(msgspec.Struct, frozen=True):
    stamp: str
    calendar: Calendar
    limits: TimeLimits


# Calendars and time limits change a few times a year but are read at every write: they are kept
# per district and rebuilt when the stamp (the district's limits and its calendars' load times),
# read in one small query, says they changed, whichever process changed them.
_RULES: dict[int, _DistrictRules] = {}


# The stamp of a district's rules, as a scalar subquery a case's own query can carry along.
_RULES_STAMP = (
    "(SELECT d.timezone || '|' || d.time_limits::text || '|' || (SELECT count(*) || '|' || "
    "coalesce(max(loaded_at)::text, '') FROM calendar_years WHERE district_id = d.id) "
    "FROM districts d WHERE d.id = {district})"
)


async def _district_rules(district_id: int, stamp: str | None = None) -> _DistrictRules:
    if stamp is None:
        rows = await fetch(f"SELECT {_RULES_STAMP.format(district='{}')} AS stamp", district_id)
        stamp = rows[0]["stamp"]
    cached = _RULES.get(district_id)
    if cached is not None and cached.stamp == stamp:
        return cached
    row = (
        await District.select(District.timezone, District.time_limits)
        .where(District.id == district_id)
        .first()
    )
    if row is None:
        raise DomainError("unknown_district", f"no district {district_id}", status=404)
    overrides = row["time_limits"]
    if isinstance(overrides, str):
        overrides = msgspec.json.decode(overrides)
    years = [
        CalendarYear(
            year=r["year"], holidays=tuple(r["holidays"]), workdays=tuple(r["workdays"]), source=r["source"]
        )
        for r in await CalendarYearRow.select().where(CalendarYearRow.district_id == district_id)
    ]
    rules = _DistrictRules(
        stamp=stamp,
        calendar=Calendar.from_stored(years, tz=row["timezone"]),
        limits=msgspec.convert(overrides or {}, TimeLimits),
    )
    _RULES[district_id] = rules
    return rules


async def district_calendar(district_id: int) -> Calendar:
    return (await _district_rules(district_id)).calendar


async def district_limits(district_id: int) -> TimeLimits:
    return (await _district_rules(district_id)).limits


async def next_ticket(district_id: int, now: datetime) -> str:
    """`2026-000123`: numbered per district and year, without gaps a citizen would wonder about."""
    year = now.year
    rows = await fetch(
        "INSERT INTO ticket_counters (district_id, year, last) VALUES ({}, {}, 1) "
        "ON CONFLICT (district_id, year) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last",
        district_id,
        year,
    )
    return f"{year}-{rows[0]['last']:06d}"


async def _append_event(
    state: CaseState, draft: lifecycle.EventDraft, actor: Actor | None, origin: Origin
) -> None:
    gps = origin.gps
    await fetch(
        "INSERT INTO case_events (id, district_id, case_id, seq, action, from_status, to_status, actor_id, "
        "device_id, mutation_id, at, client_time, lat, lon, note, data) VALUES ({}, {}, {}, "
        "(SELECT coalesce(max(seq), 0) + 1 FROM case_events WHERE case_id = {}), "
        "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        uuid.uuid4(),
        state.district_id,
        state.id,
        state.id,
        draft.action,
        draft.from_status,
        draft.to_status,
        actor.user_id if actor else None,
        origin.device_id,
        origin.mutation_id,
        draft.at,
        origin.client_time,
        gps.lat if gps else None,
        gps.lon if gps else None,
        draft.note or "",
        msgspec.json.encode(draft.data).decode(),
    )


async def register(
    body: CaseCreate, who: Registration, grid_id: int | None, location: Location | None = None
) -> CaseState:
    """Store a new case (登记) with its ticket and first event; `server.cases.intake` checks and
    places it first (`location`: where its point and address came from)."""
    state = CaseState(
        id=who.case_id or uuid.uuid4(),
        district_id=who.district_id,
        ticket=await next_ticket(who.district_id, who.now),
        type=body.type,
        category_id=body.category_id,
        urgency=body.urgency,
        channel=body.channel,
        grid_id=grid_id,
        has_contact=bool(body.complainant_phone) and not body.anonymous,
        accused_unit_id=body.accused_unit_id,
        accused_user_id=body.accused_user_id,
        accused_user_unit_id=await _unit_led_by(body.accused_user_id) if body.type == "report" else None,
        registered_at=who.now,
        reported_by=who.reported_by,
        location=location or Location(),
    )
    values = _row_values(state)
    values.update(
        title=body.title,
        description=body.description,
        address=body.address,
        lat=body.lat,
        lon=body.lon,
        complainant_name="" if body.anonymous else body.complainant_name,
        complainant_phone="" if body.anonymous else body.complainant_phone,
        contact_consent=body.contact_consent,
        anonymous=body.anonymous,
        created_by_id=who.actor.user_id if who.actor else None,
        updated_at=who.now,
    )
    columns = list(values)
    placeholders = ", ".join(_placeholder(c) for c in columns)
    # The point is made from lat/lon in SQL, NULL when either is missing.
    await fetch(
        f"INSERT INTO cases ({', '.join(columns)}, location) VALUES ({placeholders}, "
        "CASE WHEN {}::float8 IS NULL OR {}::float8 IS NULL THEN NULL "
        "ELSE ST_SetSRID(ST_MakePoint({}, {}), 4326) END)",
        *[values[c] for c in columns],
        body.lon,
        body.lat,
        body.lon,
        body.lat,
    )
    draft = lifecycle.EventDraft(
        action="register",
        from_status=None,
        to_status="registered",
        note="",
        data={"channel": body.channel},
        at=who.now,
    )
    await _append_event(state, draft, who.actor, who.origin)
    return state


async def _unit_of(user_id: int | None) -> int | None:
    if user_id is None:
        return None
    rows = await fetch("SELECT unit_id FROM app_users WHERE id = {}", user_id)
    return rows[0]["unit_id"] if rows else None


async def _unit_led_by(user_id: int | None) -> int | None:
    """The unit the accused person leads (a unit or squad leader), accused with them: the people
    under an accused leader must not read it. A member's own colleagues may (an accusation against
    one agent is still the complaint office's to read); dispatch keeps it from their whole unit."""
    if user_id is None:
        return None
    rows = await fetch(
        "SELECT unit_id FROM app_users WHERE id = {} AND role IN ('unit_leader', 'squad_leader')", user_id
    )
    return rows[0]["unit_id"] if rows else None


def _placeholder(column: str) -> str:
    return {"state": "{}::jsonb", "co_unit_ids": "{}::integer[]", "scope_keys": "{}::varchar[]"}.get(
        column, "{}"
    )


async def load_state(case_id: uuid.UUID, *, lock: bool = False) -> CaseState | None:
    rows = await fetch(f"SELECT * FROM cases WHERE id = {{}}{' FOR UPDATE' if lock else ''}", case_id)
    return state_from_row(rows[0]) if rows else None


async def ids_in_district(table: str, district_id: int, ids: list[int]) -> frozenset[int]:
    """Of `ids`, those of rows of `table` in the district: the one check that an id a client names
    belongs to the caller's district."""
    if not ids:
        return frozenset()
    rows = await fetch(
        f"SELECT id FROM {table} WHERE district_id = {{}} AND id = ANY({{}}::integer[])", district_id, ids
    )
    return frozenset(r["id"] for r in rows)


async def _category_days(state: CaseState) -> int | None:
    if state.category_id is None:
        return None
    rows = await fetch("SELECT time_limit_days FROM categories WHERE id = {}", state.category_id)
    return rows[0]["time_limit_days"] if rows else None


async def _context(
    state: CaseState, command: lifecycle.Command, actor: Actor, now: datetime, rules_stamp: str
) -> lifecycle.Context:
    rules = await _district_rules(state.district_id, rules_stamp)
    category_days = await _category_days(state) if command.action in ("dispatch", "reopen") else None
    photos: tuple[PhotoMeta, ...] = ()
    photo_ids = getattr(command.payload, "photo_ids", None)
    if photo_ids:
        photos = await photo_metas(state.district_id, list(photo_ids))
    units: frozenset[int] = frozenset()
    users: frozenset[int] = frozenset()
    squad: frozenset[int] = frozenset()
    routing: dict[str, Any] = {}
    if command.action in ("dispatch", "assign"):
        # Only the units and people the payload names are looked up, not the whole district.
        p = command.payload
        named_units = [
            u for u in (getattr(p, "unit_id", None), *getattr(p, "co_unit_ids", ())) if u is not None
        ]
        assignee = getattr(p, "assignee_id", None)
        units = await ids_in_district("units", state.district_id, named_units)
        users = await ids_in_district(
            "app_users", state.district_id, [assignee] if assignee is not None else []
        )
        if assignee is not None:
            rows = await fetch(
                "SELECT id FROM app_users WHERE id = {} AND unit_id = ANY({}::integer[])",
                assignee,
                sorted(actor.unit_ids),
            )
            squad = frozenset(r["id"] for r in rows)
        if state.type == "report":
            routing = await _accusation_context(state, assignee)
    return lifecycle.Context(
        now=now,
        calendar=rules.calendar,
        limits=rules.limits,
        category_days=category_days,
        photos=photos,
        same_angle=await district_same_angle(state.district_id) if photos else SameAngleRules(),
        unit_ids_in_district=units,
        user_ids_in_district=users,
        squad_user_ids=squad,
        **routing,
    )


async def _accusation_context(state: CaseState, assignee: int | None) -> dict[str, Any]:
    bounds = await accusation_bounds(state.accused_unit_id, state.accused_user_id, state.accused_user_unit_id)
    superiors = None if bounds.superiors is None else frozenset(bounds.superiors)
    return {
        "accused_unit_ids": bounds.excluded,
        "superior_unit_ids": superiors,
        "unit_of_user": {assignee: await _unit_of(assignee)} if assignee is not None else {},
    }


class AccusationBounds(msgspec.Struct, frozen=True):
    """Where an accusation may go (DESIGN §3, seed 002).

    - `excluded`: the accused units (the accused unit, the accused person's unit) and every unit
      under them: never lead, co-unit, or the unit of the assignee;
    - `superiors`: the units above every accused unit and outside `excluded`, nearest first: only
      they lead it. None when no unit is accused (no limit beyond the person).
    """

    excluded: frozenset[int]
    superiors: tuple[int, ...] | None


# The accused units, their subtrees, and their common ancestors with the farthest distance to any
# of them (the nearest superior has the smallest). UNION ends even on a parent cycle.
_ACCUSATION_BOUNDS_SQL = """
WITH RECURSIVE accused AS (
    SELECT id FROM units
    WHERE id = ANY({}::integer[]) OR id = (SELECT unit_id FROM app_users WHERE id = {})),
below(id) AS (
    SELECT id FROM accused UNION SELECT u.id FROM units u JOIN below ON u.parent_id = below.id),
above(root, id, depth) AS (
    SELECT a.id, u.parent_id, 1 FROM accused a JOIN units u ON u.id = a.id
    UNION SELECT above.root, u.parent_id, above.depth + 1 FROM above JOIN units u ON u.id = above.id
    WHERE above.depth < 64)
SELECT (SELECT count(*) FROM accused) AS accused,
    ARRAY(SELECT id FROM below) AS below,
    ARRAY(SELECT id FROM above WHERE id IS NOT NULL GROUP BY id
          HAVING count(DISTINCT root) = (SELECT count(*) FROM accused) ORDER BY max(depth), id) AS above
"""


async def accusation_bounds(
    accused_unit_id: int | None, accused_user_id: int | None, accused_user_unit_id: int | None = None
) -> AccusationBounds:
    """The bounds of an accusation against a unit and/or a person (dispatch and routing obey them).

    The person's unit counts both as it is now and as it was when the case was registered."""
    named = [u for u in (accused_unit_id, accused_user_unit_id) if u is not None]
    rows = await fetch(_ACCUSATION_BOUNDS_SQL, named, accused_user_id)
    excluded = frozenset(rows[0]["below"])
    if not rows[0]["accused"]:
        return AccusationBounds(excluded=excluded, superiors=None)
    return AccusationBounds(
        excluded=excluded, superiors=tuple(u for u in rows[0]["above"] if u not in excluded)
    )


async def act(
    case_id: uuid.UUID,
    command: lifecycle.Command,
    actor: Actor,
    *,
    base_version: int | None = None,
    origin: Origin = NO_ORIGIN,
    now: datetime | None = None,
    guard: Callable[[CaseState], Awaitable[None]] | None = None,
    by_complainant: bool = False,
) -> CaseState:
    """Apply one life-cycle action to a case, exactly as the rules say, or raise DomainError.

    `guard` sees the locked case first and may refuse (the sync push's conflict rule).
    `by_complainant`: the complainant acts (a rating through /track) under the rules of `actor`,
    the office acting for them; the event then names no member of staff."""
    now = now or datetime.now(UTC)
    async with transaction():
        state, stamp = await _visible(case_id, actor, lock=True, base_version=base_version)
        if guard is not None:
            await guard(state)
        outcome = lifecycle.apply(state, command, actor, await _context(state, command, actor, now, stamp))
        await _store(state, outcome.case, outcome.event, None if by_complainant else actor, origin=origin)
        if isinstance(command.payload, lifecycle.ResolvePayload):
            await attach_photos(case_id, command.payload.photo_ids)
        return outcome.case


async def transition(
    case_id: uuid.UUID, action: Action, payload: lifecycle.Payload, actor: Actor, version: int | None
) -> CaseAnswer:
    """One action through the API: applied, then the case as the caller now sees it."""
    await act(case_id, lifecycle.Command(action=action, payload=payload), actor, base_version=version)
    return await case_answer(case_id, actor)


async def case_answer(case_id: uuid.UUID, actor: Actor) -> CaseAnswer:
    """What a stored write answers: the case as the caller sees it, or only its receipt when the
    write took it out of their scope. Never a 404 for a change that was stored: a client retrying
    it would make it twice."""
    view = await case_view(case_id, actor)
    if view is not None:
        return view
    rows = await fetch(
        "SELECT id, ticket, version, status, due_at, warn_at, resolved_at FROM cases WHERE id = {}", case_id
    )
    if not rows:
        raise _not_found(case_id)
    r = rows[0]
    return CaseReceipt(
        id=r["id"],
        ticket=r["ticket"],
        version=r["version"],
        status=r["status"],
        light=light(r["due_at"], r["warn_at"], datetime.now(UTC), stopped_at=r["resolved_at"]),
    )


async def visible_case(case_id: uuid.UUID, actor: Actor) -> CaseOut:
    """The case as the actor sees it, or 404 `case_not_found` when it is missing or out of scope:
    the same answer for both, so probing ids learns nothing (DESIGN §3)."""
    view = await case_view(case_id, actor)
    if view is None:
        raise _not_found(case_id)
    return view


def _like(text: str) -> str:
    """`text` as an ILIKE pattern that matches it literally: `%`, `_` and `\\` lose their meaning."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filter_sql(actor: Actor, filters: CaseFilter) -> tuple[str, list[Any]]:
    visible, visible_args = visibility_sql(actor)
    where = [visible]
    args: list[Any] = list(visible_args)
    for column, value in (
        ("status", filters.status),
        ("category_id", filters.category_id),
        ("grid_id", filters.grid_id),
    ):
        if value is not None:
            where.append(f"{column} = {{}}")
            args.append(value)
    if filters.unit_id is not None:
        where.append("(lead_unit_id = {} OR {} = ANY(co_unit_ids))")
        args += [filters.unit_id, filters.unit_id]
    if filters.light:
        where.append(f"({light_sql()}) = {{}}")
        args.append(filters.light)
    if filters.text:
        where.append("(ticket ILIKE {} OR title ILIKE {} OR description ILIKE {} OR address ILIKE {})")
        args += [_like(filters.text)] * 4
    return " AND ".join(where), args


async def list_cases(actor: Actor, filters: CaseFilter, offset: int, limit: int) -> CasePage:
    """The visible cases matching `filters`, newest first, one page of them and the total."""
    clause, args = _filter_sql(actor, filters)
    rows = await fetch(
        f"SELECT {VIEW_COLUMNS}, count(*) OVER () AS total FROM cases WHERE {clause} "
        "ORDER BY registered_at DESC, id OFFSET {} LIMIT {}",
        *args,
        offset,
        limit,
    )
    total = rows[0]["total"] if rows else 0
    return CasePage(items=case_views(rows, actor), total=total, offset=offset, limit=limit)


def _not_found(case_id: uuid.UUID) -> DomainError:
    return DomainError("case_not_found", f"no case {case_id} in your scope", "case_id", 404)


async def amend(
    case_id: uuid.UUID,
    actor: Actor,
    action: str,
    changes: dict[str, Any],
    *,
    columns: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    note: str = "",
    now: datetime | None = None,
    base_version: int | None = None,
    statuses: frozenset[str] | None = None,
    by_complainant: bool = False,
) -> CaseState:
    """A change outside the life cycle (linking a repeat, supervision): same lock, version bump and
    event; a new urgency moves a running deadline. `statuses`: the ones the change applies to;
    `by_complainant` as in `act`."""
    now = now or datetime.now(UTC)
    async with transaction():
        state, stamp = await _visible(case_id, actor, lock=True, base_version=base_version)
        if statuses is not None and state.status not in statuses:
            raise DomainError("not_open", f"a {state.status} case cannot take a {action}", "case_id", 409)
        new = msgspec.structs.replace(state, **changes, version=state.version + 1)
        if new.urgency != state.urgency:
            rules = await _district_rules(state.district_id, stamp)
            moved = lifecycle.deadline_for_urgency(
                state, new.urgency, rules.calendar, rules.limits, await _category_days(state)
            )
            new = msgspec.structs.replace(new, **moved)
        draft = lifecycle.EventDraft(
            action=action, from_status=state.status, to_status=new.status, note=note, data=data or {}, at=now
        )
        await _store(state, new, draft, None if by_complainant else actor, extra_columns=columns or {})
        return new


async def place(
    case_id: uuid.UUID, actor: Actor, point: tuple[float, float], grid_id: int | None, location: Location
) -> CaseState:
    """Give a case its point and cell by hand (a case intake flagged `needs_location`, or one placed
    wrongly): one versioned change with its event, the point column kept in step."""
    lat, lon = point
    async with transaction():
        state = await amend(
            case_id,
            actor,
            "place",
            {"grid_id": grid_id, "location": location},
            columns={"lat": lat, "lon": lon},
            data={"lat": lat, "lon": lon, "grid_id": grid_id},
        )
        await fetch(
            "UPDATE cases SET location = ST_SetSRID(ST_MakePoint({}, {}), 4326) WHERE id = {}",
            lon,
            lat,
            case_id,
        )
    return state


async def replan_deadlines(district_id: int, now: datetime) -> int:
    """After a calendar change: recompute every provisional deadline of the district's unfinished
    cases, each as a recorded change (version bump, `replan` event) so handhelds pull it."""
    rules = await _district_rules(district_id)
    changed = 0
    async with transaction():
        rows = await fetch(
            "SELECT * FROM cases WHERE district_id = {} AND due_provisional "
            "AND status NOT IN ('closed', 'archived') "
            "ORDER BY id FOR UPDATE",
            district_id,
        )
        for row in rows:
            state = state_from_row(row)
            changes = lifecycle.replan(state, rules.calendar, rules.limits)
            if changes is None:
                continue
            new = msgspec.structs.replace(state, **changes, version=state.version + 1)
            draft = lifecycle.EventDraft(
                action="replan",
                from_status=state.status,
                to_status=state.status,
                note="",
                data={"previous_due_at": state.due_at, **changes},
                at=now,
            )
            await _store(state, new, draft, None)
            changed += 1
    return changed


async def supervise(case_id: uuid.UUID, actor: Actor, note: str, version: int | None) -> CaseState:
    """A district admin puts an open case under supervision (督办) with a notice: it stays flagged until
    closed (DESIGN §4). The alert worker flags overdue cases the same way, by itself."""
    return await amend(
        case_id,
        actor,
        "supervise",
        {"supervised": True},
        note=note,
        data={"by": "office"},
        base_version=version,
        statuses=OPEN_STATUSES,
    )


class SystemEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event no person made on a locked case (the alert worker's reminder or supervision)."""

    action: str
    note: str
    data: dict[str, Any]


async def record_system_events(
    changes: list[tuple[CaseState, list[SystemEvent], bool]], at: datetime
) -> None:
    """Store events no person made, for many locked cases at once: each case gets `version` + the
    number of its events (event seq = version, which the pushes' conflict rule reads) and, with the
    flag, `supervised`. One UPDATE and one INSERT whatever the count: the alert worker records tens
    of thousands of them. Such events change nothing the scope keys or the deadline read."""
    if not changes:
        return
    await fetch(
        "UPDATE cases c SET version = v.version, supervised = c.supervised OR v.supervised, updated_at = {} "
        "FROM unnest({}::uuid[], {}::integer[], {}::boolean[]) AS v(id, version, supervised) "
        "WHERE c.id = v.id",
        at,
        [state.id for state, _, _ in changes],
        [state.version + len(events) for state, events, _ in changes],
        [flag for _, _, flag in changes],
    )
    rows = [
        (state, n, event)
        for state, events, _ in changes
        for n, event in enumerate(events, start=state.version + 1)
    ]
    await fetch(
        "INSERT INTO case_events (id, district_id, case_id, seq, action, from_status, to_status, at, note, "
        "data) "
        "SELECT gen_random_uuid(), d, c, s, a, st, st, {}, n, x::jsonb "
        "FROM unnest({}::integer[], {}::uuid[], {}::integer[], {}::varchar[], {}::varchar[], {}::text[], "
        "{}::text[]) AS t(d, c, s, a, st, n, x)",
        at,
        [state.district_id for state, _, _ in rows],
        [state.id for state, _, _ in rows],
        [n for _, n, _ in rows],
        [event.action for _, _, event in rows],
        [state.status for state, _, _ in rows],
        [event.note for _, _, event in rows],
        [msgspec.json.encode(event.data).decode() for _, _, event in rows],
    )


async def visible_state(
    case_id: uuid.UUID, actor: Actor, *, lock: bool = False, base_version: int | None = None
) -> CaseState:
    """The case if the actor may see it (404 otherwise), locked for the transaction with `lock`."""
    return (await _visible(case_id, actor, lock=lock, base_version=base_version))[0]


async def _visible(
    case_id: uuid.UUID, actor: Actor, *, lock: bool = False, base_version: int | None = None
) -> tuple[CaseState, str]:
    """The visible case and the stamp of its district's rules, read in the same query."""
    rows = await fetch(
        f"SELECT *, {_RULES_STAMP.format(district='cases.district_id')} AS rules_stamp FROM cases "
        f"WHERE id = {{}}{' FOR UPDATE' if lock else ''}",
        case_id,
    )
    state = state_from_row(rows[0]) if rows else None
    if state is None or not can_see(actor, state):
        raise _not_found(case_id)
    if base_version is not None and base_version != state.version:
        raise StaleVersion(f"the case is at version {state.version}, you saw {base_version}")
    return state, rows[0]["rules_stamp"]


async def _store(
    old: CaseState,
    new: CaseState,
    draft: lifecycle.EventDraft,
    actor: Actor | None,
    *,
    extra_columns: dict[str, Any] | None = None,
    origin: Origin = NO_ORIGIN,
) -> None:
    before = _row_values(old)
    # Only what changed is written: fewer index entries and less WAL for a note than for a move.
    values = {c: v for c, v in _row_values(new).items() if before.get(c) != v}
    values.update(extra_columns or {})
    values["updated_at"] = draft.at
    assignments = ", ".join(f"{c} = {_placeholder(c)}" for c in values)
    await fetch(f"UPDATE cases SET {assignments} WHERE id = {{}}", *values.values(), new.id)
    await _append_event(new, draft, actor, origin)
    left = set(case_scope_keys(old)) - set(case_scope_keys(new))
    if left:
        await CaseDeparture.insert(
            *[
                CaseDeparture(district_id=new.district_id, case_id=new.id, scope_key=k, at=draft.at)
                for k in sorted(left)
            ]
        )


# A view carries the last events of the timeline, so that a case with a long history stays small
# in every view and pull; `GET /cases/{id}/events` pages through the rest.
VIEW_EVENTS = 50
# Events are numbered 1, 2, … per case (`_append_event`): the last number is their count.
_EVENTS_TOTAL = "(SELECT coalesce(max(e.seq), 0) FROM case_events e WHERE e.case_id = cases.id)"
# The scope keys of the case this one repeats: its link is shown only to who may see that case.
_REPEAT_OF_KEYS = "(SELECT t.scope_keys FROM cases t WHERE t.id = cases.repeat_of)"
# A case with its last events and its photos in one query, decoded straight into the answer's Structs.
VIEW_COLUMNS = (
    "cases.*, "
    "coalesce((SELECT json_agg(e ORDER BY e.seq) FROM (SELECT * FROM case_events e "
    f"WHERE e.case_id = cases.id ORDER BY e.seq DESC LIMIT {VIEW_EVENTS}) e), '[]')::text AS events_json, "
    f"{_EVENTS_TOTAL} AS events_total, {_REPEAT_OF_KEYS} AS repeat_of_keys, "
    "coalesce((SELECT json_agg(p ORDER BY p.taken_at) FROM photos p WHERE p.case_id = cases.id), '[]')::text "
    "AS photos_json"
)
_EVENTS = msgspec.json.Decoder(list[EventOut])
_PHOTOS = msgspec.json.Decoder(list[PhotoOut])


async def case_view(case_id: uuid.UUID, actor: Actor, *, scoped: bool = True) -> CaseOut | None:
    """One case as the actor sees it; with `scoped` only if it is in their scope."""
    clause, args = visibility_sql(actor) if scoped else ("true", [])
    rows = await fetch(f"SELECT {VIEW_COLUMNS} FROM cases WHERE id = {{}} AND {clause}", case_id, *args)
    return case_views(rows, actor)[0] if rows else None


async def visible_views(case_ids: list[uuid.UUID], actor: Actor) -> dict[uuid.UUID, CaseOut]:
    """The cases of `case_ids` the actor may see, by id, read in one query."""
    clause, args = visibility_sql(actor)
    rows = await fetch(
        f"SELECT {VIEW_COLUMNS} FROM cases WHERE id = ANY({{}}::uuid[]) AND {clause}", case_ids, *args
    )
    return {view.id: view for view in case_views(rows, actor)}


async def case_events(case_id: uuid.UUID, actor: Actor, before_seq: int | None, limit: int) -> EventPage:
    """A page of the visible case's timeline: the `limit` events before `before_seq` (the last ones
    when None), oldest first."""
    clause, args = visibility_sql(actor)
    rows = await fetch(
        f"SELECT district_id, repeat_of, {_REPEAT_OF_KEYS} AS repeat_of_keys, {_EVENTS_TOTAL} AS total, "
        "coalesce((SELECT json_agg(e ORDER BY e.seq) FROM (SELECT * FROM case_events e "
        "WHERE e.case_id = cases.id AND ({}::integer IS NULL OR e.seq < {}) "
        "ORDER BY e.seq DESC LIMIT {}) e), "
        f"'[]')::text AS events_json FROM cases WHERE id = {{}} AND {clause}",
        before_seq,
        before_seq,
        limit,
        case_id,
        *args,
    )
    if not rows:
        raise _not_found(case_id)
    r = rows[0]
    events = _events(r["events_json"], _repeat_hidden(r, actor))
    first = events[0].seq if events else None
    return EventPage(events=events, total=r["total"], before_seq=first if first and first > 1 else None)


def _repeat_hidden(row: dict[str, Any], actor: Actor) -> bool:
    """Whether the case this one repeats is out of the actor's sight (an accusation against them):
    then the link, and what the link's event says of it, are not shown (DESIGN §3)."""
    if row["repeat_of"] is None:
        return False
    keys = row["repeat_of_keys"]
    return keys is None or not sees_keys(actor, row["district_id"], keys)


def _events(events_json: str, repeat_hidden: bool) -> list[EventOut]:
    events = _EVENTS.decode(events_json)
    if repeat_hidden:
        for event in events:
            if event.action == "link_repeat":
                event.note, event.data = "", {}
    return events


def case_views(rows: list[dict[str, Any]], actor: Actor, now: datetime | None = None) -> list[CaseOut]:
    """Case rows selected with `VIEW_COLUMNS`, as the caller may see them."""
    now = now or datetime.now(UTC)
    out = []
    for r in rows:
        s = state_from_row(r)
        phone = r["complainant_phone"]
        if phone and not phone_visible(actor, r["contact_consent"]):
            phone = mask_phone(phone)
        repeat_hidden = _repeat_hidden(r, actor)
        out.append(
            CaseOut(
                id=s.id,
                ticket=s.ticket,
                version=s.version,
                status=s.status,
                light=light(s.due_at, s.warn_at, now, stopped_at=s.resolved_at),
                type=s.type,
                channel=s.channel,
                urgency=s.urgency,
                category_id=s.category_id,
                title=r["title"],
                description=r["description"],
                address=r["address"],
                lat=r["lat"],
                lon=r["lon"],
                location_source=s.location.source,
                address_match=s.location.address_match,
                needs_location=s.location.needs_location,
                grid_id=s.grid_id,
                lead_unit_id=s.lead_unit_id,
                co_unit_ids=list(s.co_unit_ids),
                assignee_id=s.assignee_id,
                complainant_name=r["complainant_name"],
                complainant_phone=phone,
                anonymous=r["anonymous"],
                registered_at=r["registered_at"],
                dispatched_at=s.dispatched_at,
                return_by=s.return_by,
                due_at=s.due_at,
                warn_at=s.warn_at,
                due_provisional=s.due_provisional,
                arrive_by=s.arrive_by,
                resolved_at=s.resolved_at,
                closed_at=s.closed_at,
                supervised=s.supervised,
                repeat_of=None if repeat_hidden else r["repeat_of"],
                extension_requested_days=s.extension_requested_days,
                rework_count=s.rework_count,
                satisfaction=s.satisfaction,
                events=_events(r["events_json"], repeat_hidden),
                events_total=r["events_total"],
                photos=_PHOTOS.decode(r["photos_json"]),
            )
        )
    return out
