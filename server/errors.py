"""One error body everywhere: `{code, message, field?}` (DESIGN §12).

Litestar's own client errors (validation, unknown route, wrong method) and the domain's refusals
(`DomainError`) are all translated here; anything unexpected is logged and answered as a 500 with
the same shape, so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
import re

import msgspec
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from server.domain import DomainError

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


_FIELD_IN_MESSAGE = re.compile(r"at `\$\.([\w.\[\]]+)`|required field `(\w+)`")


def _validation(_: Request, exc: ValidationException) -> Response:
    message = exc.detail or "invalid request"
    field = None
    code = "invalid_body"
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            text = str(item.get("message", ""))
            message = text or message
            match = _FIELD_IN_MESSAGE.search(text)
            if match:
                field = match.group(1) or match.group(2)
            key = item.get("key")
            if key and key != "data":
                field = field or str(key)
            if "Object missing required field" in text:
                code = "missing_field"
            elif "Expected" in text:
                code = "wrong_type"
            elif "JSON is malformed" in text or "malformed" in text.lower():
                code = "malformed_json"
            break
    if "malformed" in message.lower() or "decode" in message.lower() and code == "invalid_body":
        code = "malformed_json"
    return error_response(400, code, message, field)


_HTTP_CODES = {
    401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
}


def _http(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "server_error")
    return error_response(status, code, str(exc.detail))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


EXCEPTION_HANDLERS = {
    DomainError: _domain,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    HTTPException: _http,
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
