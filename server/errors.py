"""`DomainError`: a rule said no, with a machine-readable code. Pure: no HTTP here (see `server.http`)."""

from __future__ import annotations

__all__ = ["DomainError", "RetryLater", "StaleVersion"]


class DomainError(Exception):
    """A rule said no. `code` is machine-readable and becomes the API error's `code`."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


class StaleVersion(DomainError):
    """The case moved on since the version the caller saw: the API answers 409, a push `conflict`."""

    def __init__(self, message: str, field: str = "version") -> None:
        super().__init__("stale_version", message, field, 409)


class RetryLater(DomainError):
    """Refused for now, not for good: the API answers `status` with `Retry-After: retry_after`."""

    def __init__(self, code: str, message: str, retry_after: int, status: int = 429) -> None:
        super().__init__(code, message, None, status)
        self.retry_after = max(1, retry_after)
