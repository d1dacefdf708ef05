"""SMS through Aliyun and Tencent Cloud, as apprise plugins, with the reason when a send fails.

Why: apprise has neither gateway, and a plugin can only answer apprise True or False, while the
alert worker has to know *why* an SMS did not go (a rate limit waits, a bad number never will, a
wrong secret needs a person). Importing this package registers both schemes with apprise:

    aliyunsms://ACCESS_KEY_ID:ACCESS_KEY_SECRET@PHONE?sign=签名&template=SMS_123456
        [&endpoint=dysmsapi.aliyuncs.com][&scheme=https][&region=cn-hangzhou]
    tencentsms://SECRET_ID:SECRET_KEY@PHONE?sdkappid=1400000000&sign=签名&template=123456
        [&endpoint=sms.tencentcloudapi.com][&scheme=https][&region=ap-guangzhou]

The body is the template's parameters as a JSON object (`{"ticket":"2026-000123","days":"1"}`),
or plain text sent as the single parameter (see `aliyun` and `tencent` for the details).

Failure reasons. Each failed send is logged on `gridcase.notify` (phone masked) and recorded as a
`Failure(provider, code, message, phone)`, where `code` is the provider's own code
(`isv.BUSINESS_LIMIT_CONTROL`, `AuthFailure.SignatureFailure`, ...) or one of ours: `config` (the
URL lacks a part; nothing was sent), `network` (no HTTP answer), `http.STATUS` (an answer not in
the provider's shape), `bad_response`. Failures go to whoever is capturing in the current context:

- `send(url, body)` → `(True, None)` or `(False, "aliyun isv.BUSINESS_LIMIT_CONTROL: ...")`: the
  simplest way, one URL, one message;
- `with capture() as failures: apobj.notify(...)` for a caller that builds its own `Apprise`.

The capture is a `ContextVar`, so concurrent senders (threads, asyncio tasks) never see each
other's failures, and apprise's worker threads see the caller's capture because apprise runs
plugins in a copy of the caller's context. Nothing is kept when nobody captures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import apprise
from apprise.decorators import notify

from notify.gateways import aliyun, tencent
from notify.gateways._signing import GatewayError, mask_phone

__all__ = ["SCHEMES", "Failure", "capture", "send"]

log = logging.getLogger("gridcase.notify")

SCHEMES = (aliyun.SCHEME, tencent.SCHEME)


@dataclass(frozen=True, slots=True)
class Failure:
    """One message a gateway did not take, and why."""

    provider: str
    code: str
    message: str
    phone: str

    @property
    def reason(self) -> str:
        return f"{self.provider} {self.code}: {self.message}"


_capturing: ContextVar[list[Failure] | None] = ContextVar("gridcase_sms_failures", default=None)


@contextmanager
def capture() -> Iterator[list[Failure]]:
    """Collects the failures of every SMS plugin call made inside the block, in order."""
    failures: list[Failure] = []
    token = _capturing.set(failures)
    try:
        yield failures
    finally:
        _capturing.reset(token)


def _outcome(provider: str, meta: Mapping[str, Any], problem: GatewayError | None) -> bool:
    if problem is None:
        return True
    failure = Failure(provider, problem.code, problem.message, unquote(str(meta.get("host") or "")))
    log.warning("SMS to %s not sent: %s", mask_phone(failure.phone), failure.reason)
    failures = _capturing.get()
    if failures is not None:
        failures.append(failure)
    return False


# apprise's decorator is untyped; this is its shape, so the plugins below stay type-checked.
_Plugin = Callable[..., bool]
_register = cast(Callable[..., Callable[[_Plugin], _Plugin]], notify)


@_register(on=aliyun.SCHEME, name="Aliyun SMS")
def _aliyun_sms(
    body: str, title: str, notify_type: str, *args: Any, meta: dict[str, Any], **kwargs: Any
) -> bool:
    """apprise calls this for every `aliyunsms://` URL; the title is not part of an SMS template."""
    return _outcome(aliyun.PROVIDER, meta, aliyun.deliver(meta, body))


@_register(on=tencent.SCHEME, name="Tencent Cloud SMS")
def _tencent_sms(
    body: str, title: str, notify_type: str, *args: Any, meta: dict[str, Any], **kwargs: Any
) -> bool:
    """apprise calls this for every `tencentsms://` URL; the title is not part of an SMS template."""
    return _outcome(tencent.PROVIDER, meta, tencent.deliver(meta, body))


def _apprise_reason(result: apprise.AppriseResult) -> str:
    """When no plugin recorded anything (apprise refused before calling it): apprise's own words."""
    warnings = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
    detail = warnings[-1] if warnings else "no detail"
    return f"apprise {result.status.name.lower()}: {detail}"


def send(url: str, body: str, title: str = "") -> tuple[bool, str | None]:
    """Sends `body` to one apprise URL; `(True, None)`, or `(False, reason)` with the provider's code."""
    apobj = apprise.Apprise()
    if not apobj.add(url):
        return False, "apprise could not load the URL (unknown scheme or malformed)"
    with capture() as failures:
        result = apobj.notify(body=body, title=title)
    if result:
        return True, None
    return False, failures[-1].reason if failures else _apprise_reason(result)
