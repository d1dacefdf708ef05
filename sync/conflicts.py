"""The conflict rule of a push (DESIGN §7): when a mutation's `base_version` is too old to apply."""

from __future__ import annotations

__all__ = ["STATUS_ACTIONS", "is_stale"]

# Actions that move the status: a stale base version is a conflict. `note` only appends.
STATUS_ACTIONS = frozenset({"accept", "arrive", "return", "resolve"})


def is_stale(action: str, base_version: int, current_version: int, later_changes_by_device: bool) -> bool:
    """A status-changing push conflicts when someone else changed the case after the version the
    phone saw. Changes the same device pushed since (earlier in the batch, or in a batch whose
    answer was lost) do not count: the phone made them and builds on them."""
    if action not in STATUS_ACTIONS or base_version >= current_version:
        return False
    return not later_changes_by_device
