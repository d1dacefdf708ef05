"""The alert worker (DESIGN §5, §11): one pass records what is due, then delivers what may go.

A pass takes `now` as a parameter, so tests move a fake clock across deadlines without sleeping.

1. **Record.** Cases whose `next_alert_at` has come are locked in batches (`FOR UPDATE SKIP LOCKED`,
   so several workers share them); `notify.rules.plan` says which alerts they owe; all are inserted
   under the unique key (case, level, recipient, deadline) with ON CONFLICT DO NOTHING, before
   anything is sent. A new reminder or supervision also writes its case event through the case
   service's write path (version + 1, so handhelds see it). Each case's `next_alert_at` moves to
   its light's next change. All of a batch commits together.
2. **Deliver.** Pending alerts whose time has come are leased (`notify.delivery`); a worker killed
   mid-send loses nothing, because its lease expires and another worker takes the row over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from notify import queries
from notify.delivery import DeliveryConfig, deliver_due
from notify.rules import AlertDraft, CaseFacts, Contact, is_told, plan
from server.calendar.lights import next_light_change
from server.cases import service as cases
from server.cases.domain import OPEN_STATUSES
from server.db import transaction
from server.settings import Settings

__all__ = [
    "BackgroundWorker",
    "PassResult",
    "WorkerConfig",
    "record_due",
    "run_forever",
    "run_pass",
    "worker_config",
]

log = logging.getLogger("gridcase.notify")


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    batch: int = 500
    interval_seconds: float = 5.0
    delivery: DeliveryConfig = DeliveryConfig()


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        interval_seconds=settings.alert_interval_seconds,
        delivery=DeliveryConfig(
            lease_seconds=settings.alert_lease_seconds,
            max_attempts=settings.alert_max_attempts,
            retry_seconds=settings.alert_retry_seconds,
        ),
    )


class PassResult(msgspec.Struct):
    cases: int = 0
    recorded: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    held: int = 0
    # Finished by another worker after this one's lease ran out (a very slow send).
    lost_lease: int = 0


def _state(row: dict[str, Any]) -> dict[str, Any]:
    """The case's JSONB `state` (disposition, referral) as a dict, however the driver returned it."""
    state = row.get("state") or {}
    return msgspec.json.decode(state) if isinstance(state, str | bytes) else state


async def _facts(row: dict[str, Any], district: queries.DistrictSettings) -> CaseFacts:
    accused: frozenset[int] = frozenset()
    phone = ""
    if row["type"] == "report":
        accused = (await cases.accusation_bounds(row["accused_unit_id"], row["accused_user_id"])).excluded
        phone = await queries.accused_phone(row["accused_user_id"])
    return CaseFacts(
        id=str(row["id"]),
        district_id=row["district_id"],
        district_name=district.name,
        ticket=row["ticket"],
        type=row["type"],
        status=row["status"],
        category=row["category_name"],
        address=row["address"],
        registered_at=row["registered_at"],
        due_at=row["due_at"],
        warn_at=row["warn_at"],
        resolved_at=row["resolved_at"],
        lead_unit_id=row["lead_unit_id"],
        assignee_id=row["assignee_id"],
        complainant_name=row["complainant_name"],
        complainant_phone=row["complainant_phone"],
        lookup_code=row.get("lookup_code") or "",
        further=_further(row),
        disposition=_state(row).get("disposition") or "",
        referred_to=_state(row).get("referred_to") or "",
        merged_into=_state(row).get("merged_into") or "",
        anonymous=row["anonymous"],
        accused_unit_ids=accused,
        accused_user_id=row["accused_user_id"],
        accused_phone=phone,
    )


def _further(row: dict[str, Any]) -> tuple[Contact, ...]:
    return tuple(
        Contact(
            key=f["phone"].strip(),
            role="complainant",
            name=f["name"],
            phone=f["phone"].strip(),
            lookup_code=f["lookup_code"],
        )
        for f in msgspec.json.decode(row.get("further_json") or "[]")
        if is_told(f["name"], f["phone"], f["anonymous"])
    )


def _after(row: dict[str, Any], now: datetime) -> datetime | None:
    """Where `next_alert_at` points once this visit is done: the light's next change, if open."""
    if row["status"] not in OPEN_STATUSES:
        return None
    return next_light_change(row["due_at"], row["warn_at"], row["resolved_at"], after=now)


async def _events(
    rows: dict[str, dict[str, Any]], drafts: list[AlertDraft], new: list[dict], now: datetime
) -> None:
    """The case events of new reminders (naming who was reminded) and of a new supervision."""
    fresh = {(str(r["case_id"]), r["level"], r["recipient"]) for r in new}
    reminded: dict[str, list[str]] = {}
    supervised: dict[str, AlertDraft] = {}
    for d in drafts:
        if (d.case_id, d.level, d.recipient.key) not in fresh:
            continue
        if d.level == "reminder":
            reminded.setdefault(d.case_id, []).append(d.recipient.name or d.recipient.key)
        elif d.level == "supervision":
            supervised[d.case_id] = d
    changes = []
    for case_id in sorted(reminded.keys() | supervised.keys()):
        state = cases.state_from_row(rows[case_id])
        events = []
        if case_id in reminded:
            names = reminded[case_id]
            events.append(
                cases.SystemEvent(
                    action="remind",
                    note="催办：已提醒" + "、".join(names),
                    data={"reminded": names, "due_at": state.due_at},
                )
            )
        if case_id in supervised:
            notice = supervised[case_id]
            events.append(
                cases.SystemEvent(
                    action="supervise",
                    note=notice.text,
                    data={"due_at": state.due_at, "unit_id": notice.recipient.unit_id},
                )
            )
        changes.append((state, events, case_id in supervised))
    await cases.record_system_events(changes, now)


async def _record_batch(now: datetime, limit: int) -> tuple[int, int]:
    """One batch in one transaction: (cases looked at, alerts recorded)."""
    async with transaction():
        rows = await queries.claim_due_cases(now, limit)
        if not rows:
            return 0, 0
        districts = await queries.district_settings(r["district_id"] for r in rows)
        people = await queries.directory(
            (r["lead_unit_id"] for r in rows if r["lead_unit_id"] is not None),
            (r["assignee_id"] for r in rows if r["assignee_id"] is not None),
        )
        calendars = {d: await cases.district_calendar(d) for d in districts}
        drafts: list[AlertDraft] = []
        for row in rows:
            district = districts[row["district_id"]]
            facts = await _facts(row, district)
            drafts += plan(facts, people, district.config, calendars[row["district_id"]], now)
        new = await queries.record(drafts, now)
        await _events({str(r["id"]): r for r in rows}, drafts, new, now)
        await queries.set_next_alert_at([r["id"] for r in rows], [_after(r, now) for r in rows])
        return len(rows), len(new)


async def record_due(now: datetime, batch: int = 500) -> tuple[int, int]:
    """Record every alert due at `now`: (cases looked at, alerts recorded)."""
    seen = recorded = 0
    while True:
        n, r = await _record_batch(now, batch)
        seen, recorded = seen + n, recorded + r
        if n < batch:
            return seen, recorded


async def run_pass(now: datetime | None = None, config: WorkerConfig | None = None) -> PassResult:
    """Record what is due at `now`, then deliver what may go at `now`."""
    now = now or datetime.now(UTC)
    config = config or WorkerConfig()
    seen, recorded = await record_due(now, config.batch)
    result = PassResult(cases=seen, recorded=recorded)
    for outcome, n in (await deliver_due(now, config.delivery, worker=uuid.uuid4())).items():
        setattr(result, outcome, n)
    return result


async def run_forever(config: WorkerConfig, stop: asyncio.Event | None = None) -> None:
    """Passes every `interval_seconds` until `stop` is set; a failing pass is logged, not fatal."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            result = await run_pass(config=config)
            if result.recorded or result.sent or result.failed:
                log.info("alert pass: %s", msgspec.json.encode(result).decode())
        except Exception:
            log.exception("alert pass failed; retrying at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.interval_seconds)


class BackgroundWorker:
    """The worker as a task of the server process (`gridcase run`), started and stopped with the app."""

    __slots__ = ("config", "_stop", "_task")

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(run_forever(self.config, self._stop), name="gridcase-alert-worker")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
