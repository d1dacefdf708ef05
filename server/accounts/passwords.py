"""Password hashing with Argon2id, at the cost the settings name (argon2-cffi's RFC 9106
low-memory profile unless a test chooses cheaper).

Every log-in runs exactly one verification, also for an unknown or disabled username (against a
dummy hash of the same cost), so the answer's timing does not tell which usernames exist.
Verification runs in a worker thread: argon2-cffi releases the GIL, and the event loop keeps
serving other requests for the tens of milliseconds it takes.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.settings import Settings, get_settings

__all__ = ["hash_password", "needs_rehash", "verify_password"]


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _hasher_of(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_hex(16))


def hash_password(password: str, settings: Settings | None = None) -> str:
    return _hasher_of(settings or get_settings()).hash(password)


def _matches(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str, settings: Settings) -> bool:
    """Whether `password` matches `stored`; `None` (no such user) costs the same and never matches."""
    hasher = _hasher_of(settings)
    if stored is None:
        await asyncio.to_thread(_matches, hasher, _dummy_hash(hasher), password)
        return False
    return await asyncio.to_thread(_matches, hasher, stored, password)


def needs_rehash(stored: str, settings: Settings) -> bool:
    """The stored hash was made with other parameters than the settings' (or another algorithm)."""
    try:
        return _hasher_of(settings).check_needs_rehash(stored)
    except InvalidHashError:
        return True
