"""Time limits, deadlines, extensions and lights of a case (DESIGN §4 extensions, §5).

Pure functions over `server.workdays`: the life cycle calls them when a case is dispatched or an
extension approved, the alert worker and the console call `light` at any instant. Deadlines are
ends of working days (local midnight, stored as UTC) except the urgent on-site limit, which is
counted in clock hours because an emergency does not wait for Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from server.calendar.workdays import Calendar, add_working_days, require_aware, subtract_working_days
from server.cases.domain import CaseType, Urgency

__all__ = [
    "Deadline",
    "TimeLimits",
    "extend",
    "extension_allowed",
    "handling_days",
    "plan_deadline",
    "plan_hours",
]

_CASE_TYPES: frozenset[str] = frozenset(CaseType.__args__)  # type: ignore[attr-defined]
# A deadline at local midnight closes the day before it; one tick earlier names that day.
_TICK = timedelta(microseconds=1)


def _default_type_days() -> dict[str, int]:
    return {"consult": 2, "help": 5, "complaint": 5, "report": 5, "suggestion": 5}


class TimeLimits(msgspec.Struct, frozen=True, kw_only=True):
    """A district's time limits in working days (hours/minutes where named), defaults from §5.

    `max_type_days` caps the per-type limits (a district may allow up to 10); category limits are
    not capped by it, planning cases take 15. Validated on construction so a bad configuration
    fails when loaded, not when the first case of that type arrives.
    """

    type_days: dict[str, int] = msgspec.field(default_factory=_default_type_days)
    max_type_days: int = 10
    important_days: int = 7
    urgent_on_site_hours: int = 2
    urgent_reply_days: int = 2
    return_days: int = 2
    review_days: int = 2
    callback_days: int = 2
    # An extension must be asked for no later than this many working days before the deadline.
    extension_notice_days: int = 2
    # The longest extension a unit may ask for at once.
    max_extension_days: int = 30
    warn_days: int = 1
    warn_days_long: int = 3
    # Limits of this many working days or more get the long warning window.
    long_limit_days: int = 15
    urgent_warn_minutes: int = 30

    def __post_init__(self) -> None:
        if set(self.type_days) != _CASE_TYPES:
            raise ValueError(f"type_days must give exactly the case types {sorted(_CASE_TYPES)}")
        for case_type, days in self.type_days.items():
            if not 1 <= days <= self.max_type_days:
                raise ValueError(f"type_days[{case_type!r}]={days} is outside 1..{self.max_type_days}")
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, int) and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")


class Deadline(msgspec.Struct, frozen=True):
    """When a case is due and turns yellow; `provisional` if a missing calendar year was used."""

    due_at: datetime
    warn_at: datetime
    provisional: bool
    missing_years: tuple[int, ...]
    days: int


def handling_days(
    limits: TimeLimits, case_type: CaseType, urgency: Urgency, category_days: int | None
) -> int:
    """Working days a unit has to handle a case.

    Precedence, first match wins:
    1. `consult` → the consult limit: a question is answered, whatever its urgency or category.
    2. `urgent` → `urgent_reply_days`: the reply follows the 2-hour on-site visit.
    3. `important` → `important_days`: a leader-signed, media or repeated case gets a written
       reply on its own clock, even when the category would allow longer.
    4. the category's own limit, if it has one: a district knows planning takes 15 days.
    5. the case type's limit.
    """
    if case_type == "consult":
        return limits.type_days["consult"]
    if urgency == "urgent":
        return limits.urgent_reply_days
    if urgency == "important":
        return limits.important_days
    if category_days is not None:
        if category_days < 1:
            raise ValueError(f"category_days must be >= 1, got {category_days}")
        return category_days
    return limits.type_days[case_type]


def plan_deadline(cal: Calendar, limits: TimeLimits, start: datetime, days: int) -> Deadline:
    """Deadline `days` working days after `start`, yellow from the last 1 (or 3, long limits) days."""
    due = add_working_days(cal, start, days)
    window = limits.warn_days_long if days >= limits.long_limit_days else limits.warn_days
    warn = subtract_working_days(cal, due.at, window)
    missing = tuple(sorted(set(due.missing_years) | set(warn.missing_years)))
    return Deadline(
        due_at=due.at, warn_at=warn.at, provisional=bool(missing), missing_years=missing, days=days
    )


def plan_hours(start: datetime, hours: int, warn_minutes: int) -> Deadline:
    """A clock-hours limit (urgent: on site within 2 hours), yellow `warn_minutes` before it.

    Calendars do not apply, so it is never provisional; `days` is 0.
    """
    require_aware(start, "start")
    if hours < 1 or warn_minutes < 0:
        raise ValueError(f"need hours >= 1 and warn_minutes >= 0, got {hours}, {warn_minutes}")
    due_at = start.astimezone(UTC) + timedelta(hours=hours)
    return Deadline(
        due_at=due_at,
        warn_at=due_at - timedelta(minutes=warn_minutes),
        provisional=False,
        missing_years=(),
        days=0,
    )


def extension_allowed(cal: Calendar, limits: TimeLimits, due_at: datetime, now: datetime) -> bool:
    """Whether an extension may still be requested: `now` is at or before the notice limit.

    The limit is the start of the last `extension_notice_days` working days: for a deadline at the
    end of a Friday and 2 days' notice, Thursday 00:00 is the last instant allowed. A limit falling
    in a year with no calendar is computed on weekends alone, like the deadline itself.
    """
    require_aware(now, "now")
    return now <= subtract_working_days(cal, due_at, limits.extension_notice_days).at


def extend(cal: Calendar, limits: TimeLimits, due_at: datetime, days: int) -> Deadline:
    """Move a deadline `days` working days later and recompute its warning instant.

    Counting starts from the day the old deadline closes (a deadline at the end of Monday
    extended by 1 ends on Tuesday). The warning window follows the extension's own length, which
    is the time the unit has left; the returned `days` is the extension's.
    """
    require_aware(due_at, "due_at")
    if days < 1:
        raise ValueError(f"an extension needs days >= 1, got {days}")
    return plan_deadline(cal, limits, due_at - _TICK, days)
