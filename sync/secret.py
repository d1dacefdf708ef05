"""The key that signs pull cursors: `GRIDCASE_CURSOR_SECRET`, or one generated on first use.

A generated secret is written once to `<data_dir>/cursor_secret` (mode 0600) and read back by
every later process, so the workers of one server, and its restarts, accept each other's cursors.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from server.settings import Settings

__all__ = ["cursor_key"]

_FILE = "cursor_secret"


def cursor_key(settings: Settings) -> bytes:
    return _key(settings.cursor_secret, settings.data_dir)


@lru_cache(maxsize=4)
def _key(configured: str, data_dir: str) -> bytes:
    if configured:
        return configured.encode()
    path = Path(data_dir) / _FILE
    if not path.exists():
        _create(path)
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it, or set GRIDCASE_CURSOR_SECRET")
    return secret.encode()


def _create(path: Path) -> None:
    """Write a fresh secret beside `path` and link it into place: the link is atomic, so when two
    workers start together one secret wins and both read it, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
