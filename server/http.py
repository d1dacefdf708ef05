"""One error body everywhere: `{code, message, field?}` (DESIGN §12).

Litestar's own client errors (validation, unknown route, wrong method) and the domain's refusals
(`DomainError`) are all translated here; a database that is away is a 503 a client retries, a
value the database cannot hold a 400, and anything else unexpected is logged and answered as a
500 with the same shape, so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

import msgspec
from asyncpg import exceptions as pg
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from server.db import is_outage
from server.errors import DomainError, RetryLater

__all__ = ["ErrorBody", "EXCEPTION_HANDLERS", "ERROR_RESPONSES", "error_response", "note_answer"]

log = logging.getLogger("gridcase")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    body = ErrorBody(code=code, message=message, field=field)
    return Response(content=body, status_code=status, headers=dict(headers or {}))


def _domain(_: Request, exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RetryLater) else None
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


# msgspec names a missing or unknown field in the message and the object holding it in the key.
_NAMED_FIELD = re.compile(r"(?:required|unknown) field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '([^']+)'")
# (code, test on msgspec's message), first match wins; "Expected `int`, got `str`" is a wrong type,
# any other "Expected ..." a broken constraint (bounds, length, pattern).
_VALIDATION_CODES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("missing_field", re.compile(r"missing required field")),
    ("unknown_field", re.compile(r"unknown field")),
    ("wrong_type", re.compile(r"^Expected `[^`]+`, got `")),
    ("invalid_value", re.compile(r"^Expected |^Invalid enum value")),
)


def _validation(_: Request, exc: ValidationException) -> Response:
    item = next((i for i in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(i, dict)), {})
    message = str(item.get("message") or exc.detail or "invalid request")
    key = str(item.get("key") or "")
    if key == "data" and message == "'data'":
        # Litestar's way of saying the body was empty.
        return error_response(400, "malformed_json", "the request body must be a JSON document")
    missing_parameter = _MISSING_PARAMETER.search(message)
    if missing_parameter:
        return error_response(400, "missing_parameter", message, missing_parameter.group(1))
    code = next((c for c, pattern in _VALIDATION_CODES if pattern.search(message)), "invalid_body")
    named = _NAMED_FIELD.search(message)
    path = [part for part in (key, named.group(1) if named else "") if part and part != "data"]
    return error_response(400, code, message, ".".join(path) or None)


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _http(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc.__cause__, SerializationException):
        return error_response(status, "malformed_json", f"the body is not valid JSON: {exc.detail}")
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "server_error")
    # Keeps what Litestar set, such as `Allow` on a 405 (RFC 9110).
    return error_response(status, code, str(exc.detail), headers=exc.headers)


# A value a client sent that a column cannot hold, told in the request's terms: PostgreSQL's data
# exceptions (SQLSTATE class 22), and asyncpg's refusal to encode an argument (an id beyond int4),
# which asyncpg only exports under `_base` (its public `DataError` is the SQLSTATE one).
_UNSTORABLE: tuple[tuple[type[Exception], str], ...] = (
    (pg.StringDataRightTruncationError, "a text in the request is longer than its field allows"),
    (pg.CharacterNotInRepertoireError, "a text in the request holds a character that cannot be stored (NUL)"),
    (pg.NumericValueOutOfRangeError, "a number or id in the request is out of range"),
    (pg._base.DataError, "a number or id in the request is out of range"),
    (pg.DataError, "a value in the request cannot be stored"),
)
# Seconds a client waits before retrying while the database is away; a restart takes a few.
_OUTAGE_RETRY_AFTER = 2


class _Outage:
    """One warning when the database goes away and one line when it answers again (per worker
    process), instead of a traceback for every request in between."""

    since: float | None = None
    refused = 0


def _unavailable(request: Request, exc: BaseException) -> Response:
    if _Outage.since is None:
        _Outage.since, _Outage.refused = time.monotonic(), 0
        log.warning("database unavailable (%s: %s); answering 503", type(exc).__name__, exc)
    _Outage.refused += 1
    return error_response(
        503,
        "database_unavailable",
        "the database is not reachable for a moment; retry the same request",
        headers={"Retry-After": str(_OUTAGE_RETRY_AFTER)},
    )


async def note_answer(response: Response) -> Response:
    """After every request (`after_request`): the first success after an outage ends it. A
    coroutine: Litestar runs a plain function hook in a worker thread, a thread hop per request."""
    if _Outage.since is not None and (response.status_code or 500) < 300:
        log.warning(
            "database available again after %.1f s; %d requests answered 503",
            time.monotonic() - _Outage.since,
            _Outage.refused,
        )
        _Outage.since = None
    return response


def _unstorable(request: Request, exc: Exception) -> Response:
    message = next(m for kind, m in _UNSTORABLE if isinstance(exc, kind))
    log.info("refused a value on %s %s: %s", request.method, request.url.path, exc)
    return error_response(400, "invalid_value", message)


def _unexpected(request: Request, exc: Exception) -> Response:
    if is_outage(exc):
        return _unavailable(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    HTTPException: _http,
    pg.DataError: _unstorable,
    pg._base.DataError: _unstorable,
    Exception: _unexpected,
}

# Declared on every route so the OpenAPI document shows the one error shape.
ERROR_RESPONSES = {
    status: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
    for status, description in (
        (400, "Malformed or invalid request"),
        (401, "Missing or expired token"),
        (403, "The role may not do this"),
        (404, "Unknown or out of scope"),
        (409, "Conflicts with the case's state"),
        (422, "A rule of the domain refused the input"),
        (429, "Too many attempts; retry after `Retry-After` seconds"),
        (503, "The database is away for a moment; retry after `Retry-After` seconds"),
    )
}
