"""Tencent Cloud SMS, API 3.0 SendSms (2021-01-11), for apprise.

Why: apprise has no Tencent Cloud SMS, and mainland cities send their SMS through Tencent Cloud or
Aliyun. This module builds one SendSms JSON POST, signs it with TC3-HMAC-SHA256 and reads the
answer; `notify.gateways` registers it with apprise on the `tencentsms://` scheme.

URL::

    tencentsms://SECRET_ID:SECRET_KEY@PHONE?sdkappid=1400000000&sign=签名&template=123456
        [&endpoint=sms.tencentcloudapi.com][&scheme=https][&region=ap-guangzhou]

- `sdkappid` (SmsSdkAppId), `sign` (SignName) and `template` (TemplateId) are required.
- `endpoint` is host[:port], `scheme` http or https: both exist so tests can point the plugin at a
  local fake gateway. Defaults: sms.tencentcloudapi.com, https, ap-guangzhou.
- Percent-encode the key, the secret and a Chinese sign name in the URL (`urllib.parse.quote`).
- PHONE is sent in E.164: `+...` as written, `00...` becomes `+...`, anything else gets `+86`.

Body: a JSON object's values, in the object's order, are the TemplateParamSet
(`{"ticket":"2026-000123","days":"1"}` → `["2026-000123", "1"]`); any other body is `[body]`.
The title is not sent: an SMS template has no title.

A failure is `Response.Error` (e.g. `AuthFailure.SignatureFailure`) or a SendStatusSet entry whose
`Code` is not "Ok" (`LimitExceeded.PhoneNumberDailyLimit`, `InvalidParameterValue.IncorrectPhoneNumber`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from notify.gateways._signing import (
    TC3_CONTENT_TYPE,
    GatewayError,
    Route,
    credentials,
    phone_of,
    problem_from_http,
    problem_from_transport,
    required_option,
    route,
    tc3_authorization,
    template_values,
)

__all__ = [
    "PROVIDER",
    "SCHEME",
    "TencentMessage",
    "deliver",
    "e164",
    "interpret",
    "message_from_url",
    "param_set",
    "request_parts",
]

PROVIDER = "tencent"
SCHEME = "tencentsms"
SERVICE = "sms"
ACTION = "SendSms"
API_VERSION = "2021-01-11"
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class TencentMessage:
    """One SendSms call, as read from the apprise URL and body."""

    secret_id: str
    secret_key: str
    phone: str
    sdk_app_id: str
    sign: str
    template: str
    params: tuple[str, ...]
    route: Route


def e164(phone: str) -> str:
    """`+8613800138000` stays, `008613800138000` → `+86...`, `13800138000` → `+8613800138000`."""
    if phone.startswith("+"):
        return phone
    if phone.startswith("00"):
        return f"+{phone[2:]}"
    return f"+86{phone}"


def param_set(body: str) -> tuple[str, ...]:
    values = template_values(body)
    return (body,) if values is None else tuple(values.values())


def message_from_url(meta: Mapping[str, Any], body: str) -> TencentMessage:
    """Reads apprise's parsed URL (`meta`); raises GatewayError("config", ...) if a part is missing."""
    qsd: Mapping[str, str] = meta.get("qsd") or {}
    secret_id, secret_key = credentials(meta, "SECRET_ID", "SECRET_KEY")
    return TencentMessage(
        secret_id=secret_id,
        secret_key=secret_key,
        phone=e164(phone_of(meta)),
        sdk_app_id=required_option(qsd, "sdkappid", "the SMS application's SdkAppId, e.g. 1400000000"),
        sign=required_option(qsd, "sign", "the approved SMS signature name, SignName"),
        template=required_option(qsd, "template", "the template id, e.g. 123456"),
        params=param_set(body),
        route=route(qsd, DEFAULT_ENDPOINT, DEFAULT_REGION),
    )


def request_parts(message: TencentMessage, *, timestamp: int) -> tuple[dict[str, str], bytes]:
    """Headers and payload of the signed POST; deterministic given the timestamp."""
    body = {
        "PhoneNumberSet": [message.phone],
        "SmsSdkAppId": message.sdk_app_id,
        "SignName": message.sign,
        "TemplateId": message.template,
        "TemplateParamSet": list(message.params),
    }
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    host = message.route.endpoint
    authorization = tc3_authorization(
        message.secret_id,
        message.secret_key,
        host=host,
        service=SERVICE,
        timestamp=timestamp,
        payload=payload,
    )
    headers = {
        "Authorization": authorization,
        "Content-Type": TC3_CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": ACTION,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": API_VERSION,
        "X-TC-Region": message.route.region,
    }
    return headers, payload


def _status_problem(statuses: object) -> GatewayError | None:
    if not isinstance(statuses, list) or not statuses:
        return GatewayError("bad_response", "the answer has no SendStatusSet")
    for status in statuses:
        code = str(status.get("Code")) if isinstance(status, dict) else "bad_response"
        if code != "Ok":
            message = status.get("Message") if isinstance(status, dict) else None
            return GatewayError(code, str(message or "no message"))
    return None


def interpret(status: int, content: bytes) -> GatewayError | None:
    """None when every number was accepted; else the problem, with Tencent's code when it gave one."""
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    response = answer.get("Response") if isinstance(answer, dict) else None
    if not isinstance(response, dict):
        return problem_from_http(status, content)
    error = response.get("Error")
    if isinstance(error, dict):
        return GatewayError(str(error.get("Code")), str(error.get("Message") or "no message"))
    if status != 200:
        return problem_from_http(status, content)
    return _status_problem(response.get("SendStatusSet"))


def deliver(meta: Mapping[str, Any], body: str) -> GatewayError | None:
    """Sends one message; returns None on success, else why not. Never raises for a failed send."""
    try:
        message = message_from_url(meta, body)
    except GatewayError as problem:
        return problem
    headers, payload = request_parts(message, timestamp=int(time.time()))
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            response = client.post(message.route.url, content=payload, headers=headers)
    except httpx.HTTPError as error:
        return problem_from_transport(error)
    return interpret(response.status_code, response.content)
