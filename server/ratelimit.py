"""Fixed one-minute windows per scope, shared by every server process through the database."""

from __future__ import annotations

from server.db import fetch

__all__ = ["within_rate"]


async def within_rate(scope: str, per_minute: int) -> bool:
    """Count one hit in `scope`'s current minute; whether it stays within `per_minute`."""
    rows = await fetch(
        "INSERT INTO rate_windows (scope, window_start, hits) VALUES ({}, date_trunc('minute', now()), 1) "
        "ON CONFLICT (scope, window_start) DO UPDATE SET hits = rate_windows.hits + 1 RETURNING hits",
        scope,
    )
    if rows[0]["hits"] == 1:
        await fetch("DELETE FROM rate_windows WHERE window_start < now() - interval '1 hour'")
    return bool(rows[0]["hits"] <= per_minute)
