"""The conflict rule of a push (DESIGN §7): when a mutation's `base_version` is too old to apply."""

from __future__ import annotations

import uuid

from server.cases.domain import CaseState
from server.db import fetch
from server.errors import DomainError, StaleVersion

__all__ = ["STATUS_ACTIONS", "is_stale", "refuse_if_stale"]

# Actions that move the status: a stale base version is a conflict. `note` only appends.
STATUS_ACTIONS = frozenset({"accept", "arrive", "return", "resolve"})


def is_stale(action: str, base_version: int, current_version: int, later_changes_by_device: bool) -> bool:
    """A status-changing push conflicts when someone else changed the case after the version the
    phone saw. Changes the same device pushed since (earlier in the batch, or in a batch whose
    answer was lost) do not count: the phone made them and builds on them."""
    if action not in STATUS_ACTIONS or base_version >= current_version:
        return False
    return not later_changes_by_device


async def refuse_if_stale(action: str, base_version: int, case: CaseState, device_id: uuid.UUID) -> None:
    """Raise `StaleVersion` (a push `conflict`) when `is_stale` says so of the locked case, or 422 when
    the phone claims a version the case never had."""
    if base_version > case.version:
        raise DomainError(
            "invalid_base_version",
            f"base_version {base_version} is ahead of the case (version {case.version})",
            "base_version",
            422,
        )
    if base_version == case.version or action not in STATUS_ACTIONS:
        return  # current, or an action that never conflicts: no need to read who changed it since
    own = await _later_changes_by_device(case.id, base_version, device_id)
    if is_stale(action, base_version, case.version, own):
        raise StaleVersion(
            f"the case moved on to version {case.version} since version {base_version}", "base_version"
        )


async def _later_changes_by_device(case_id: uuid.UUID, base_version: int, device_id: uuid.UUID) -> bool:
    # Each change appends one event and bumps the version by one, so event seq = version.
    rows = await fetch(
        "SELECT coalesce(bool_and(device_id IS NOT DISTINCT FROM {} AND mutation_id IS NOT NULL), true) "
        "AS own FROM case_events WHERE case_id = {} AND seq > {}",
        device_id,
        case_id,
        base_version,
    )
    return bool(rows[0]["own"])
