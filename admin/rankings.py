"""Monthly unit figures and ranking (DESIGN §8), computed from the case event log alone.

Pure: the queries load the month's events (and every earlier event of the cases they touch, so
that the lead unit at each moment is known), this module replays them in order.

Who a figure belongs to:
- *received*: the unit a `dispatch` names as lead; *returns*: the unit a `return` sends it back from;
- *dispatched* and *dispatched on time*: the unit of the person who dispatched. A dispatch is on
  time by the end of the next working day after registration, or after the return that sent the
  case back to the office (DESIGN §5); each late one is a point deducted (扣分, seed 001);
- *closed*, *closed on time* (the last `resolve` before the `close` was on time), extensions
  approved, callbacks, reopenings and the mean handling time (working days from the dispatch to the
  last resolve): the lead unit at the time of the event;
- *repeats*: a `link_repeat` counts against the lead unit of the earlier case it repeats.

A unit that closed fewer cases than the fair minimum is listed apart and never ranked: one fast fix
must not top the table (FixMyStreet issue #1957).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

from server.calendar.workdays import Calendar, add_working_days, working_days_between

__all__ = [
    "LOGGED_ACTIONS",
    "SORT_KEYS",
    "LoggedEvent",
    "Ranking",
    "SortKey",
    "Unit",
    "UnitFigures",
    "rank_units",
    "sorted_rows",
]

_SATISFIED = frozenset({"satisfied", "basically_satisfied"})


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the case event log, with the case's registration time and the actor's unit."""

    case_id: uuid.UUID
    seq: int
    action: str
    at: datetime
    registered_at: datetime
    actor_unit_id: int | None
    data: dict[str, Any] = {}


class Unit(msgspec.Struct, frozen=True):
    id: int
    name: str


class UnitFigures(msgspec.Struct, kw_only=True):
    unit_id: int
    unit_name: str
    received: int = 0
    dispatched: int = 0
    dispatched_on_time: int = 0
    closed: int = 0
    closed_on_time: int = 0
    on_time_rate: float | None = None
    overdue_now: int = 0
    extensions: int = 0
    returns: int = 0
    called_back: int = 0
    satisfied: int = 0
    satisfaction_rate: float | None = None
    reopened: int = 0
    rework_rate: float | None = None
    repeats: int = 0
    mean_handling_days: float | None = None
    # Points lost: one per late dispatch.
    deductions: int = 0
    rank: int | None = None
    handling_days_total: float = 0.0


class Ranking(msgspec.Struct, kw_only=True):
    month: str
    minimum_closed: int
    # Ranked units first (rank 1, 2, ...), then the units with too few closed cases for a fair rate.
    ranked: list[UnitFigures]
    apart: list[UnitFigures]


SortKey = Literal[
    "rank",
    "unit_name",
    "received",
    "dispatched",
    "dispatched_on_time",
    "closed",
    "closed_on_time",
    "on_time_rate",
    "overdue_now",
    "extensions",
    "returns",
    "satisfaction_rate",
    "rework_rate",
    "repeats",
    "mean_handling_days",
    "deductions",
]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)


class _CaseTrack(msgspec.Struct):
    lead: int | None = None
    dispatched_at: datetime | None = None
    # When the office's dispatch clock started: registration, or the last return.
    waiting_since: datetime | None = None
    resolved_at: datetime | None = None
    resolved_on_time: bool = False


class _Replay:
    """Walks the log once in time order, keeping each case's lead unit and clocks."""

    def __init__(self, calendar: Calendar, start: datetime, end: datetime, figures: dict[int, UnitFigures]):
        self.calendar, self.start, self.end, self.figures = calendar, start, end, figures
        self.cases: dict[uuid.UUID, _CaseTrack] = {}

    def unit(self, unit_id: Any) -> UnitFigures | None:
        return self.figures.get(unit_id) if isinstance(unit_id, int) else None

    def feed(self, event: LoggedEvent) -> None:
        track = self.cases.setdefault(event.case_id, _CaseTrack(waiting_since=event.registered_at))
        counted = self.start <= event.at < self.end
        handler = getattr(self, f"_on_{event.action}", None)
        if handler is not None:
            handler(event, track, counted)

    def _on_dispatch(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        if counted:
            if (received := self.unit(event.data.get("lead_unit_id"))) is not None:
                received.received += 1
            if (office := self.unit(event.actor_unit_id)) is not None:
                office.dispatched += 1
                since = track.waiting_since or event.registered_at
                if event.at < add_working_days(self.calendar, since, 1).at:
                    office.dispatched_on_time += 1
                else:
                    office.deductions += 1
        track.lead = event.data.get("lead_unit_id")
        track.dispatched_at = event.at
        track.resolved_at = None

    def _on_return(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        if counted and (unit := self.unit(event.data.get("unit_id", track.lead))) is not None:
            unit.returns += 1
        track.lead, track.waiting_since = None, event.at

    def _on_resolve(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        track.resolved_at = event.at
        track.resolved_on_time = bool(event.data.get("on_time"))

    def _on_approve_extension(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        if counted and event.data.get("approved") and (unit := self.unit(track.lead)) is not None:
            unit.extensions += 1

    def _on_callback(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        if counted and (unit := self.unit(track.lead)) is not None:
            unit.called_back += 1
            unit.satisfied += event.data.get("satisfaction") in _SATISFIED

    def _on_reopen(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        if counted and (unit := self.unit(track.lead)) is not None:
            unit.reopened += 1
        track.resolved_at = None

    def _on_close(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        unit = self.unit(track.lead)
        if not counted or unit is None:
            return
        unit.closed += 1
        unit.closed_on_time += track.resolved_on_time and track.resolved_at is not None
        if track.dispatched_at is not None and track.resolved_at is not None:
            unit.handling_days_total += working_days_between(
                self.calendar, track.dispatched_at, track.resolved_at
            )

    def _on_join(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        # A further complainant of the same problem (一事一单) is a repeat complaint to its unit.
        if counted and (unit := self.unit(track.lead)) is not None:
            unit.repeats += 1

    def _on_rating(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        # A further complainant's own rating of a joined case counts as a callback does.
        self._on_callback(event, track, counted)

    def _on_link_repeat(self, event: LoggedEvent, track: _CaseTrack, counted: bool) -> None:
        original = event.data.get("repeat_of")
        if not counted or original is None:
            return
        earlier = self.cases.get(uuid.UUID(original))
        if earlier is not None and (unit := self.unit(earlier.lead)) is not None:
            unit.repeats += 1


# The actions the ranking reads from the log: those `_Replay` has a handler for.
LOGGED_ACTIONS: tuple[str, ...] = tuple(
    sorted(n.removeprefix("_on_") for n in vars(_Replay) if n.startswith("_on_"))
)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _finish(f: UnitFigures) -> None:
    f.on_time_rate = _ratio(f.closed_on_time, f.closed)
    f.satisfaction_rate = _ratio(f.satisfied, f.called_back)
    f.rework_rate = _ratio(f.reopened, f.closed)
    f.mean_handling_days = round(f.handling_days_total / f.closed, 2) if f.closed else None


def rank_units(
    *,
    month: str,
    units: Iterable[Unit],
    events: Iterable[LoggedEvent],
    overdue_now: Mapping[int, int],
    calendar: Calendar,
    start: datetime,
    end: datetime,
    minimum_closed: int,
) -> Ranking:
    """The month's figures per unit, ranked by on-time closure rate, then fewer points deducted,
    then more cases closed; units under `minimum_closed` closed cases are listed apart."""
    figures = {u.id: UnitFigures(unit_id=u.id, unit_name=u.name) for u in units}
    replay = _Replay(calendar, start, end, figures)
    for event in sorted(events, key=lambda e: (e.at, str(e.case_id), e.seq)):
        replay.feed(event)
    for unit_id, count in overdue_now.items():
        if unit_id in figures:
            figures[unit_id].overdue_now = count
    for f in figures.values():
        _finish(f)
    fair = [f for f in figures.values() if f.closed >= minimum_closed]
    fair.sort(key=lambda f: (-(f.on_time_rate or 0.0), f.deductions, -f.closed, f.unit_name))
    for position, f in enumerate(fair, start=1):
        f.rank = position
    apart = sorted((f for f in figures.values() if f.closed < minimum_closed), key=lambda f: f.unit_name)
    return Ranking(month=month, minimum_closed=minimum_closed, ranked=fair, apart=apart)


def sorted_rows(ranking: Ranking, key: SortKey, descending: bool) -> Ranking:
    """The same ranking with each group ordered by one column; missing figures (no cases) go last.
    The units listed apart stay apart whatever the order."""

    def order(rows: list[UnitFigures]) -> list[UnitFigures]:
        present = [r for r in rows if getattr(r, key) is not None]
        missing = [r for r in rows if getattr(r, key) is None]
        return sorted(present, key=lambda r: getattr(r, key), reverse=descending) + missing

    return Ranking(
        month=ranking.month,
        minimum_closed=ranking.minimum_closed,
        ranked=order(ranking.ranked),
        apart=order(ranking.apart),
    )
