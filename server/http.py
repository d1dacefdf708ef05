"""One error body everywhere: `{code, message, field?}` (DESIGN §12).

Litestar's own client errors (validation, unknown route, wrong method) and the domain's refusals
(`DomainError`) are all translated here; anything unexpected is logged and answered as a 500 with
the same shape, so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
import re

import msgspec
from asyncpg.exceptions import DataError
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from server.errors import DomainError

__all__ = ["ErrorBody", "EXCEPTION_HANDLERS", "ERROR_RESPONSES", "error_response"]

log = logging.getLogger("gridcase")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    return Response(content=ErrorBody(code=code, message=message, field=field), status_code=status)


def _domain(_: Request, exc: DomainError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.field)


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
    return error_response(status, code, str(exc.detail))


def _unstorable(request: Request, exc: DataError) -> Response:
    # PostgreSQL's data exceptions (SQLSTATE class 22) come from values a client sent that a column
    # cannot hold: an id beyond the integer range, a NUL character in a text.
    log.info("refused a value on %s %s: %s", request.method, request.url.path, exc)
    return error_response(400, "invalid_value", f"a value in the request cannot be stored: {exc}")


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    HTTPException: _http,
    DataError: _unstorable,
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
    )
}
