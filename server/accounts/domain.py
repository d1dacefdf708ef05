"""Who is acting: the `Actor` every request, push and job acts as (DESIGN §1)."""

from __future__ import annotations

import uuid

import msgspec

from server.accounts.roles import Role

__all__ = ["Actor"]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting, with what they may see: loaded once per request by the service layer."""

    user_id: int
    role: Role
    district_id: int
    unit_id: int | None = None
    # Units whose cases this actor reads and handles: own unit, plus the subtree for leaders.
    unit_ids: frozenset[int] = frozenset()
    # The own unit and every unit above it, up to the root: an accusation against any of them is
    # hidden from this actor (DESIGN §3).
    unit_chain: frozenset[int] = frozenset()
    # Grid cells a grid worker owns.
    grid_ids: frozenset[int] = frozenset()
    device_id: uuid.UUID | None = None
