"""Delivering recorded alerts: apprise to the recipient's URLs, or the outbox when there are none.

Each claimed alert is leased; its outcome is stored only by the lease holder, so three workers at
once never both finish one alert, and one killed mid-send leaves the row to the next worker once the
lease expires. That worker sends again: a message the dead one handed to the receiver before dying
arrives twice (at-least-once across a crash; exactly once otherwise). Failures retry with
exponential backoff and jitter, and end `failed` with the reason after `max_attempts`.
Sending runs in a thread: apprise and the SMS plugins are blocking.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import msgspec

import notify.gateways as gateways
from notify import queries
from notify.rules import NotifyConfig, backoff, not_before, still_relevant

__all__ = ["DeliveryConfig", "deliver_due", "send_all"]


class DeliveryConfig(msgspec.Struct, frozen=True, kw_only=True):
    batch: int = 100
    lease_seconds: float = 60.0
    max_attempts: int = 6
    retry_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # Sends at once per pass: a slow gateway does not hold the others up.
    concurrency: int = 8


def send_all(urls: list[str], text: str) -> str | None:
    """Send to every URL; None when all took it, else the first reason given."""
    for url in urls:
        ok, reason = gateways.send(url, text)
        if not ok:
            return reason or "not delivered"
    return None


async def _deliver_one(row: dict[str, Any], now: datetime, config: DeliveryConfig, lease: uuid.UUID) -> str:
    alert_id = row["id"]
    if not still_relevant(
        row["level"], row["deadline"], row["case_status"], row["case_due_at"], row["case_resolved_at"]
    ):
        await queries.drop(alert_id, lease)
        return "dropped"
    district = msgspec.json.decode(row["notify"] or "{}", type=NotifyConfig)
    held = not_before(row["level"], now, district, row["timezone"])
    if held > now:
        await queries.release(alert_id, lease, held)
        return "held"
    if not row["urls"]:
        return "sent" if await queries.finish_outbox(alert_id, lease, now) else "lost_lease"
    error = await asyncio.to_thread(send_all, list(row["urls"]), row["message"])
    if error is None:
        return "sent" if await queries.finish_sent(alert_id, lease, now) else "lost_lease"
    retry_at = None
    if row["attempts"] < config.max_attempts:
        delay = backoff(row["attempts"], config.retry_seconds, config.retry_max_seconds)
        retry_at = not_before(row["level"], now + timedelta(seconds=delay), district, row["timezone"])
    await queries.finish_failed(alert_id, lease, error, retry_at)
    return "failed" if retry_at is None else "retried"


async def deliver_due(now: datetime, config: DeliveryConfig, worker: uuid.UUID) -> Counter[str]:
    """Deliver every alert that may go at `now`, batch by batch; counts of outcomes."""
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(config.concurrency)

    async def one(row: dict[str, Any]) -> str:
        async with gate:
            return await _deliver_one(row, now, config, worker)

    while True:
        rows = await queries.claim_deliveries(
            now, now + timedelta(seconds=config.lease_seconds), worker, config.batch
        )
        outcomes.update(await asyncio.gather(*(one(r) for r in rows)))
        if len(rows) < config.batch:
            return outcomes
