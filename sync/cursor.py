"""The pull cursor: a pure rule, stated here beside the code that depends on it.

The cursor is a pair of PostgreSQL snapshots (`xmin:xmax:xip,…` text). A case row records the
transaction that last changed it (`change_xid`); a change belongs to a pull round when its
transaction is visible in the round's `until` snapshot and was not visible in `since`. A
transaction that took its id early but committed late is in `since`'s in-progress list, so it is
still "not visible in since" at the next round: nothing is skipped, whatever the commit order.
"""

from __future__ import annotations

import base64
import binascii
import uuid

import msgspec

from server.errors import DomainError

__all__ = ["Cursor", "decode_cursor", "encode_cursor"]


class Cursor(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True):
    """`since`: the snapshot the device is complete up to (None: nothing yet, a full snapshot).
    `until`: the snapshot the current round reads up to. `after`: paging key (xid, case id) within it.
    `keys`: the user's scope keys the device's copy was built with, to notice when they change."""

    since: str | None = None
    until: str | None = None
    after: tuple[int, str] | None = None
    keys: tuple[str, ...] = ()
    v: int = 1


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(text: str | None) -> Cursor:
    if not text:
        return Cursor()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise DomainError(
            "invalid_cursor", "the cursor is not one this server gave; pull with cursor null", "cursor", 400
        ) from None
    for snapshot in (cursor.since, cursor.until):
        if snapshot is not None and not _is_snapshot(snapshot):
            raise DomainError("invalid_cursor", "the cursor is damaged; pull with cursor null", "cursor", 400)
    if cursor.after is not None:
        try:
            uuid.UUID(cursor.after[1])
        except ValueError:
            raise DomainError(
                "invalid_cursor", "the cursor is damaged; pull with cursor null", "cursor", 400
            ) from None
    return cursor


def _is_snapshot(text: str) -> bool:
    parts = text.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return False
    return all(x.isdigit() for x in parts[2].split(",")) if parts[2] else True
