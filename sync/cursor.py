"""The pull cursor: a pure rule, stated here beside the code that depends on it.

The cursor is a pair of PostgreSQL snapshots (`xmin:xmax:xip,…` text). A case row records the
transaction that last changed it (`change_xid`); a change belongs to a pull round when its
transaction is visible in the round's `until` snapshot and was not visible in `since`. A
transaction that took its id early but committed late is in `since`'s in-progress list, so it is
still "not visible in since" at the next round: nothing is skipped, whatever the commit order.

The server trusts what the cursor holds (the snapshots, the scope keys it was built with), so the
cursor is signed with an HMAC and bound to the user it was given to: a hand-made, altered or
borrowed cursor is `invalid_cursor`, and the device pulls again from null.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

import msgspec

from server.errors import DomainError

__all__ = ["Cursor", "decode_cursor", "encode_cursor"]

# 128 bits of HMAC-SHA256 keep the cursor short and are far beyond guessing.
_MAC_BYTES = 16
_VERSION = 2


class Cursor(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True):
    """`user`: the user it was given to. `since`: the snapshot the device is complete up to (None:
    nothing yet, a full snapshot). `until`: the snapshot the current round reads up to. `after`:
    paging key (xid, case id) within it. `keys`: the user's scope keys the device's copy was built
    with, to notice when they change."""

    user: int = 0
    since: str | None = None
    until: str | None = None
    after: tuple[int, str] | None = None
    keys: tuple[str, ...] = ()
    v: int = _VERSION


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(cursor: Cursor, key: bytes) -> str:
    body = msgspec.json.encode(cursor)
    return f"{_b64(body)}.{_b64(_mac(key, body))}"


def _invalid(message: str) -> DomainError:
    return DomainError("invalid_cursor", f"{message}; pull with cursor null", "cursor", 400)


def decode_cursor(text: str | None, key: bytes, user_id: int) -> Cursor:
    """The cursor `encode_cursor` made for this user, or `invalid_cursor`; null is a first pull."""
    if not text:
        return Cursor(user=user_id)
    cursor = _verified(text, key)
    if cursor.user != user_id:
        raise _invalid("the cursor was given to another user")
    return cursor


# A phone re-pulls with the cursor it was last given (an empty re-pull gives it back unchanged):
# its check is remembered rather than redone. Only cursors that passed it are kept.
@functools.lru_cache(maxsize=50_000)
def _verified(text: str, key: bytes) -> Cursor:
    body_text, _, mac_text = text.partition(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise _invalid("the cursor is not one this server gave") from None
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise _invalid("the cursor is not one this server gave")
    try:
        cursor = msgspec.json.decode(body, type=Cursor)
    except msgspec.DecodeError:
        raise _invalid("the cursor is from an older server") from None
    if cursor.v != _VERSION:
        raise _invalid("the cursor is from an older server")
    return cursor
