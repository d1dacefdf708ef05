"""Log-in throttling per username and per client address (DESIGN §12: 429 with `Retry-After`).

The rule is pure (`counted`, `wait_seconds`); the attempts live in PostgreSQL, so every
server process sees the same counts. An attempt is counted before its password is checked, with
the rows locked, so concurrent guesses at one username cannot slip past the limit together. A
client address counts only its failures, once the password was checked: a whole office behind one
address logging in at the start of a shift must not lock itself out (parallel guesses from one
address may pass the address's limit by at most the requests in flight). A key that reached
its limit of failures in a row is locked for `lock_seconds`, doubling with each further failure
up to `lock_max_seconds`. While it is locked, attempts are refused without being counted, so no
one can push a lock further out than that bound. A success clears the username's count; failures
are forgotten after twice the longest lock without attempts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from server.db import fetch, transaction
from server.errors import RetryLater
from server.settings import Settings

__all__ = [
    "Attempts",
    "Limits",
    "claim",
    "counted",
    "failed",
    "limits_of",
    "prune",
    "succeeded",
    "wait_seconds",
]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_failures: int
    lock_seconds: float
    lock_max_seconds: float


class Attempts(msgspec.Struct, frozen=True, kw_only=True):
    """One key's record: failures in a row (this attempt included once counted)."""

    failures: int = 0
    last_at: datetime | None = None
    locked_until: datetime | None = None


def wait_seconds(attempts: Attempts, now: datetime) -> float:
    """How long the key is still locked (0 when it is not)."""
    if attempts.locked_until is None:
        return 0.0
    return max(0.0, (attempts.locked_until - now).total_seconds())


def counted(attempts: Attempts, limits: Limits, now: datetime) -> Attempts:
    """The record once this attempt counts as a failure (cleared if it succeeds). Reaching the
    limit locks the key now, so the next attempt waits even while this one is being checked."""
    quiet = attempts.last_at is None or now - attempts.last_at > timedelta(
        seconds=2 * limits.lock_max_seconds
    )
    failures = 1 if quiet else attempts.failures + 1
    locked_until = None
    if failures >= limits.max_failures:
        doublings = min(failures - limits.max_failures, 30)
        lock = min(limits.lock_max_seconds, limits.lock_seconds * 2**doublings)
        locked_until = now + timedelta(seconds=lock)
    return Attempts(failures=failures, last_at=now, locked_until=locked_until)


def limits_of(settings: Settings) -> tuple[Limits, Limits]:
    """(per username, per client address)."""
    user = Limits(
        max_failures=settings.login_max_failures,
        lock_seconds=settings.login_lock_seconds,
        lock_max_seconds=settings.login_lock_max_seconds,
    )
    return user, msgspec.structs.replace(user, max_failures=settings.login_max_failures_per_address)


def _keys(username: str, address: str) -> list[str]:
    # Sorted, so concurrent log-ins lock the rows in one order and cannot deadlock.
    return sorted([f"user:{username}", f"addr:{address}"])


def _limits(key: str, settings: Settings) -> Limits:
    user, address = limits_of(settings)
    return user if key.startswith("user:") else address


async def _locked(keys: list[str]) -> tuple[datetime, dict[str, Attempts]]:
    await fetch(
        "INSERT INTO login_attempts (key, failures, last_at) SELECT k, 0, now() "
        "FROM unnest({}::text[]) AS k ON CONFLICT (key) DO NOTHING",
        keys,
    )
    rows = await fetch(
        "SELECT key, failures, last_at, locked_until, now() AS now FROM login_attempts "
        "WHERE key = ANY({}::text[]) ORDER BY key FOR UPDATE",
        keys,
    )
    now = rows[0]["now"]
    return now, {
        r["key"]: Attempts(failures=r["failures"], last_at=r["last_at"], locked_until=r["locked_until"])
        for r in rows
    }


async def _store(records: dict[str, Attempts]) -> None:
    keys = list(records)
    await fetch(
        "UPDATE login_attempts a SET failures = v.failures, last_at = v.last_at, locked_until = v.until "
        "FROM unnest({}::text[], {}::int[], {}::timestamptz[], {}::timestamptz[]) "
        "AS v(key, failures, last_at, until) WHERE a.key = v.key",
        keys,
        [records[k].failures for k in keys],
        [records[k].last_at for k in keys],
        [records[k].locked_until for k in keys],
    )


async def claim(username: str, address: str, settings: Settings) -> None:
    """Count this attempt at the username, or refuse it (429, `Retry-After`) while the username or
    the address is locked."""
    keys = _keys(username, address)
    async with transaction():
        now, records = await _locked(keys)
        wait = max(wait_seconds(a, now) for a in records.values())
        if wait > 0:
            raise RetryLater(
                "too_many_attempts",
                f"too many failed log-ins; try again in {int(wait) + 1} s",
                retry_after=int(wait) + 1,
            )
        user = f"user:{username}"
        await _store({user: counted(records[user], _limits(user, settings), now)})


async def failed(address: str, settings: Settings) -> None:
    """The password was wrong: the address counts one more failure (the username's was counted)."""
    key = f"addr:{address}"
    async with transaction():
        now, records = await _locked([key])
        await _store({key: counted(records[key], _limits(key, settings), now)})


async def succeeded(username: str) -> None:
    """The password was right: forget the username's failures."""
    await fetch("DELETE FROM login_attempts WHERE key = {}", f"user:{username}")


async def prune(settings: Settings) -> None:
    """Drop a batch of records whose failures are forgotten anyway (called at each log-in)."""
    await fetch(
        "DELETE FROM login_attempts WHERE key IN (SELECT key FROM login_attempts "
        "WHERE last_at < now() - make_interval(secs => {}) "
        "AND (locked_until IS NULL OR locked_until < now()) LIMIT 100)",
        float(2 * settings.login_lock_max_seconds),
    )
