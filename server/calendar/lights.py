"""The light of a case (DESIGN §5): green, yellow from `warn_at`, red from `due_at`, in Python and in SQL.

`light` is the rule; `light_sql` is the same rule as a SQL expression over a row's columns, so that
lists filter and the map colours in the database. `tests/calendar/test_lights_sql.py` holds them equal at
every boundary.
"""

from __future__ import annotations

from datetime import datetime

from server.calendar.workdays import require_aware
from server.cases.domain import OPEN_STATUSES, CaseState, Light

__all__ = ["light", "light_sql", "next_alert_at", "next_light_change"]

_CLOSED: frozenset[str] = frozenset({"closed", "archived"})


def light(
    due_at: datetime | None, warn_at: datetime | None, now: datetime, stopped_at: datetime | None = None
) -> Light:
    """Green, yellow or red at `stopped_at` if the clock stopped (case resolved), else at `now`.

    Both boundaries belong to the later colour: yellow from `warn_at` inclusive, red from `due_at`
    inclusive, because a deadline at midnight means the day is over at that instant. No deadline →
    green; a deadline without a warning instant goes straight from green to red.
    """
    require_aware(now, "now")
    at = require_aware(stopped_at, "stopped_at") if stopped_at is not None else now
    if due_at is None:
        return "green"
    if require_aware(due_at, "due_at") <= at:
        return "red"
    if warn_at is not None and require_aware(warn_at, "warn_at") <= at:
        return "yellow"
    return "green"


def next_light_change(
    due_at: datetime | None,
    warn_at: datetime | None,
    stopped_at: datetime | None,
    after: datetime | None = None,
) -> datetime | None:
    """The first instant strictly after `after` (the first of all without it) at which `light` changes
    colour: `warn_at` (green → yellow), then `due_at` (→ red). None once the clock stopped, without a
    deadline, or when no change is left: the alert worker looks at a case again only then."""
    if stopped_at is not None or due_at is None:
        return None
    for boundary in (warn_at, due_at):
        if boundary is not None and (after is None or require_aware(boundary, "boundary") > after):
            return boundary
    return None


def light_sql(
    due_at: str = "due_at", warn_at: str = "warn_at", resolved_at: str = "resolved_at", at: str = "now()"
) -> str:
    """`light` as SQL text over column expressions: the same order of tests, the same inclusive bounds."""
    judged = f"coalesce({resolved_at}, {at})"
    return (
        f"CASE WHEN {due_at} IS NULL THEN 'green' WHEN {due_at} <= {judged} THEN 'red' "
        f"WHEN {warn_at} IS NOT NULL AND {warn_at} <= {judged} THEN 'yellow' ELSE 'green' END"
    )


def next_alert_at(case: CaseState) -> datetime | None:
    """The first instant the alert worker (`notify/`) has something to do for this case, or None:
    the receipt or the closing message for a complainant with a contact, else the light's next
    change while open. The case write path stores it in `cases.next_alert_at` (partial index)."""
    told = case.has_contact or case.further_contacts > 0
    if told and case.status in _CLOSED and case.closed_at is not None:
        return case.closed_at
    light = next_light_change(case.due_at, case.warn_at, case.resolved_at)
    owed = [light] if case.status in OPEN_STATUSES and light is not None else []
    if told and case.registered_at is not None:
        owed.append(case.registered_at)
    return min(owed) if owed else None
