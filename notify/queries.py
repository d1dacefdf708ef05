"""The alert worker's and the alert API's SQL, all through `server.db.fetch` on the one pool.

Recording: `claim_due_cases` locks the cases whose `next_alert_at` has come (SKIP LOCKED, so workers
share them), `record` inserts the alerts under their unique key and answers the ones that are new.
Delivery: `claim_deliveries` leases pending alerts (SKIP LOCKED plus `leased_until`, so a worker
that dies mid-send loses nothing: its lease expires and another takes the rows), and every finish
is conditional on still holding the lease.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from notify.rules import AlertDraft, Contact, Directory, NotifyConfig, UnitContacts
from server.db import fetch

__all__ = [
    "retry_failed",
    "claim_deliveries",
    "claim_due_cases",
    "directory",
    "district_settings",
    "drop",
    "finish_failed",
    "finish_outbox",
    "finish_sent",
    "list_alerts",
    "list_outbox",
    "record",
    "release",
    "set_next_alert_at",
]


async def claim_due_cases(now: datetime, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` cases due for a look, locked for the caller's transaction, with the names the
    messages need. Reads the partial index `cases_next_alert_at` only."""
    return await fetch(
        "SELECT c.*, coalesce(nullif(k.name_zh, ''), k.name, '') AS category_name, "
        # Further complainants of a joined case (`notify.rules.is_told` picks whom to tell).
        "(SELECT coalesce(json_agg(json_build_object('name', f.name, 'phone', f.phone, "
        "'anonymous', f.anonymous, 'lookup_code', f.lookup_code) ORDER BY f.id), '[]') "
        "FROM case_complainants f WHERE f.case_id = c.id AND NOT f.first)::text AS further_json FROM cases c "
        "LEFT JOIN categories k ON k.id = c.category_id "
        "WHERE c.next_alert_at <= {} ORDER BY c.next_alert_at LIMIT {} FOR UPDATE OF c SKIP LOCKED",
        now,
        limit,
    )


def _contact(key: str, role: str, name: str, phone: str, urls: str, **ids: Any) -> Contact:
    return Contact(key=key, role=role, name=name, phone=phone, urls=tuple(urls.split()), **ids)


async def directory(unit_ids: Iterable[int], user_ids: Iterable[int]) -> Directory:
    """The lead units (their leader in charge and head, matched by phone to a unit_leader user of the
    unit when there is one) and the assignees of a batch of cases, in three queries."""
    units_list, users_list = sorted(set(unit_ids)), sorted(set(user_ids))
    leaders = await fetch(
        "SELECT id, unit_id, name, phone, notify_url FROM app_users "
        "WHERE role = 'unit_leader' AND active AND unit_id = ANY({}::integer[]) ORDER BY id",
        units_list,
    )
    by_phone = {(r["unit_id"], r["phone"]): r for r in leaders if r["phone"]}
    units: dict[int, UnitContacts] = {}
    for u in await fetch("SELECT * FROM units WHERE id = ANY({}::integer[])", units_list):
        people = []
        for role, prefix in (("leader_in_charge", "leader"), ("head", "head")):
            name, phone = u[f"{prefix}_name"], u[f"{prefix}_phone"]
            user = by_phone.get((u["id"], phone)) if phone else None
            key = f"user:{user['id']}" if user else phone or f"unit:{u['id']}:{prefix}"
            urls = u[f"{prefix}_notify_url"] or (user["notify_url"] if user else "")
            people.append(
                _contact(key, role, name, phone, urls, user_id=user["id"] if user else None, unit_id=u["id"])
            )
        unit = _contact(f"unit:{u['id']}", "unit", u["name"], "", u["notify_url"], unit_id=u["id"])
        units[u["id"]] = UnitContacts(unit=unit, leader=people[0], head=people[1])
    users = {
        r["id"]: _contact(
            f"user:{r['id']}",
            "assignee",
            r["name"],
            r["phone"],
            r["notify_url"],
            user_id=r["id"],
            unit_id=r["unit_id"],
        )
        for r in await fetch(
            "SELECT id, unit_id, name, phone, notify_url FROM app_users WHERE id = ANY({}::integer[])",
            users_list,
        )
    }
    return Directory(units=units, users=users)


class DistrictSettings(msgspec.Struct, frozen=True):
    name: str
    timezone: str
    config: NotifyConfig


async def district_settings(district_ids: Iterable[int]) -> dict[int, DistrictSettings]:
    rows = await fetch(
        "SELECT id, name, timezone, notify::text AS notify FROM districts WHERE id = ANY({}::integer[])",
        sorted(set(district_ids)),
    )
    return {
        r["id"]: DistrictSettings(
            r["name"], r["timezone"], msgspec.json.decode(r["notify"] or "{}", type=NotifyConfig)
        )
        for r in rows
    }


async def accused_phone(user_id: int | None) -> str:
    if user_id is None:
        return ""
    rows = await fetch("SELECT phone FROM app_users WHERE id = {}", user_id)
    return rows[0]["phone"] if rows else ""


async def record(drafts: list[AlertDraft], now: datetime) -> list[dict[str, Any]]:
    """Insert the drafts in one statement; answers the rows that were new (case_id, level, recipient)."""
    if not drafts:
        return []
    return await fetch(
        "INSERT INTO alerts (district_id, case_id, level, recipient, recipient_role, recipient_user_id, "
        "unit_id, deadline, channel, urls, message, status, attempts, last_error, next_try_at, created_at) "
        "SELECT d, c, l, r, rr, ru, u, dl, ch, "
        "coalesce((SELECT array_agg(x) FROM jsonb_array_elements_text(us) x), ARRAY[]::text[]), "
        "m, 'pending', 0, '', nb, {} "
        "FROM unnest({}::integer[], {}::uuid[], {}::varchar[], {}::varchar[], {}::varchar[], {}::integer[], "
        "{}::integer[], {}::timestamptz[], {}::varchar[], {}::jsonb[], {}::text[], {}::timestamptz[]) "
        "AS t(d, c, l, r, rr, ru, u, dl, ch, us, m, nb) "
        "ON CONFLICT (case_id, level, recipient, deadline) DO NOTHING RETURNING case_id, level, recipient",
        now,
        [d.district_id for d in drafts],
        [uuid.UUID(d.case_id) for d in drafts],
        [d.level for d in drafts],
        [d.recipient.key for d in drafts],
        [d.recipient.role for d in drafts],
        [d.recipient.user_id for d in drafts],
        [d.recipient.unit_id for d in drafts],
        [d.deadline for d in drafts],
        [d.channel for d in drafts],
        [msgspec.json.encode(list(d.recipient.urls)).decode() for d in drafts],
        [d.text for d in drafts],
        [d.not_before for d in drafts],
    )


async def set_next_alert_at(case_ids: list[uuid.UUID], values: list[datetime | None]) -> None:
    if case_ids:
        await fetch(
            "UPDATE cases SET next_alert_at = t.v FROM unnest({}::uuid[], {}::timestamptz[]) AS t(id, v) "
            "WHERE cases.id = t.id",
            case_ids,
            values,
        )


async def claim_deliveries(
    now: datetime, lease_until: datetime, lease: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """Lease up to `limit` pending alerts whose time has come; each claim counts as an attempt."""
    return await fetch(
        "WITH claimed AS (SELECT id FROM alerts WHERE status = 'pending' AND next_try_at <= {} "
        "AND (leased_until IS NULL OR leased_until < {}) ORDER BY next_try_at LIMIT {} "
        "FOR UPDATE SKIP LOCKED) "
        "UPDATE alerts a SET leased_until = {}, lease = {}, attempts = a.attempts + 1 "
        "FROM claimed, cases c, districts d "
        "WHERE a.id = claimed.id AND c.id = a.case_id AND d.id = a.district_id "
        "RETURNING a.id, a.district_id, a.level, a.recipient, a.deadline, a.urls, a.message, a.attempts, "
        "c.status AS case_status, c.due_at AS case_due_at, c.resolved_at AS case_resolved_at, "
        "d.timezone, d.notify::text AS notify",
        now,
        now,
        limit,
        lease_until,
        lease,
    )


async def finish_sent(alert_id: int, lease: uuid.UUID, now: datetime) -> bool:
    rows = await fetch(
        "UPDATE alerts SET status = 'sent', sent_at = {}, last_error = '', leased_until = NULL, lease = NULL "
        "WHERE id = {} AND lease = {} RETURNING id",
        now,
        alert_id,
        lease,
    )
    return bool(rows)


async def finish_outbox(alert_id: int, lease: uuid.UUID, now: datetime) -> bool:
    """Into the outbox and `sent`, together, only for the holder of the lease."""
    rows = await fetch(
        "WITH done AS (UPDATE alerts SET status = 'sent', sent_at = {}, leased_until = NULL, lease = NULL "
        "WHERE id = {} AND lease = {} RETURNING id, district_id, recipient, message) "
        "INSERT INTO outbox_messages (district_id, alert_id, recipient, text, created_at) "
        "SELECT district_id, id, recipient, message, {} FROM done "
        "ON CONFLICT (alert_id) DO NOTHING RETURNING id",
        now,
        alert_id,
        lease,
        now,
    )
    return bool(rows)


async def finish_failed(alert_id: int, lease: uuid.UUID, error: str, retry_at: datetime | None) -> None:
    """Another try at `retry_at`, or `failed` for good without one; the error is kept either way."""
    await fetch(
        "UPDATE alerts SET status = CASE WHEN {}::timestamptz IS NULL THEN 'failed' ELSE 'pending' END, "
        "next_try_at = coalesce({}::timestamptz, next_try_at), last_error = {}, "
        "leased_until = NULL, lease = NULL "
        "WHERE id = {} AND lease = {}",
        retry_at,
        retry_at,
        error[:2000],
        alert_id,
        lease,
    )


async def release(alert_id: int, lease: uuid.UUID, at: datetime) -> None:
    """Back to pending until `at` without spending the attempt (quiet hours began meanwhile)."""
    await fetch(
        "UPDATE alerts SET next_try_at = {}, attempts = attempts - 1, leased_until = NULL, lease = NULL "
        "WHERE id = {} AND lease = {}",
        at,
        alert_id,
        lease,
    )


async def drop(alert_id: int, lease: uuid.UUID) -> None:
    await fetch(
        "UPDATE alerts SET status = 'dropped', leased_until = NULL, lease = NULL "
        "WHERE id = {} AND lease = {}",
        alert_id,
        lease,
    )


_ALERT_COLUMNS = (
    "a.id, a.case_id, c.ticket, a.level, a.recipient_user_id, a.recipient, a.channel, a.status, "
    "a.attempts, a.created_at, a.sent_at, a.last_error AS error"
)


async def list_alerts(
    visibility: tuple[str, list[Any]], filters: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Alerts of the cases the caller may see (`server.cases.scope.visibility_sql`), newest first."""
    clause, args = visibility
    where = [f"a.case_id IN (SELECT id FROM cases WHERE {clause})"]
    for column, value in filters.items():
        if value is not None:
            where.append(f"a.{column} = {{}}")
            args = [*args, value]
    return await fetch(
        f"SELECT {_ALERT_COLUMNS} FROM alerts a JOIN cases c ON c.id = a.case_id "
        f"WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT {{}}",
        *args,
        limit,
    )


async def list_outbox(district_id: int, limit: int) -> list[dict[str, Any]]:
    return await fetch(
        "SELECT id, alert_id, recipient AS to, text, created_at FROM outbox_messages "
        "WHERE district_id = {} ORDER BY id DESC LIMIT {}",
        district_id,
        limit,
    )


async def retry_failed(alert_id: int, district_id: int) -> bool:
    """A failed alert goes back to the worker with its attempts counted afresh; False when the
    district has no failed alert of that id (a pending, sent or dropped one is left as it is)."""
    rows = await fetch(
        "UPDATE alerts SET status = 'pending', attempts = 0, next_try_at = now(), leased_until = NULL, "
        "lease = NULL WHERE id = {} AND district_id = {} AND status = 'failed' RETURNING id",
        alert_id,
        district_id,
    )
    return bool(rows)
