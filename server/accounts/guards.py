"""Guards every controller calls before acting: the caller's role, and the device a push names."""

from __future__ import annotations

import uuid

from server.accounts.domain import Actor
from server.db import fetch
from server.errors import DomainError

__all__ = ["require_device", "require_role"]


def require_role(actor: Actor, roles: frozenset[str], what: str) -> None:
    """403 `forbidden_role` unless the actor's role is one of `roles`; `what` completes "may not …"."""
    if actor.role not in roles:
        raise DomainError("forbidden_role", f"a {actor.role} may not {what}", status=403)


async def require_device(device_id: uuid.UUID, actor: Actor) -> None:
    """A push or pull names a device: it must exist and belong to the caller."""
    rows = await fetch("SELECT user_id FROM devices WHERE id = {}", device_id)
    row = rows[0] if rows else None
    if row is None:
        raise DomainError("unknown_device", "register the device with POST /devices first", "device_id", 404)
    if row["user_id"] != actor.user_id:
        raise DomainError("device_not_yours", "this device is registered to another user", "device_id", 403)
