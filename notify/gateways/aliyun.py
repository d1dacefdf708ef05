"""Aliyun (Alibaba Cloud) SMS, `dysmsapi` SendSms, for apprise.

Why: apprise has no Aliyun SMS, and mainland cities send their SMS through Aliyun or Tencent Cloud.
This module builds, signs and sends one SendSms request (API 2017-05-25, RPC style, signed with the
classic HMAC-SHA1 "RPC signature") and reads the answer; `notify.gateways` registers it with apprise
on the `aliyunsms://` scheme.

URL::

    aliyunsms://ACCESS_KEY_ID:ACCESS_KEY_SECRET@PHONE?sign=签名&template=SMS_123456
        [&endpoint=dysmsapi.aliyuncs.com][&scheme=https][&region=cn-hangzhou]

- `sign` (SignName, an approved signature) and `template` (TemplateCode) are required.
- `endpoint` is host[:port], `scheme` http or https: both exist so tests can point the plugin at a
  local fake gateway. Defaults: dysmsapi.aliyuncs.com, https, cn-hangzhou.
- Percent-encode the key, the secret and a Chinese sign name in the URL (`urllib.parse.quote`).
- PHONE is sent as written (Aliyun accepts it with or without +86/0086).

Body: a JSON object is the template's parameters (`{"ticket":"2026-000123","days":"1"}`); any other
body is sent as `{"content": body}`. The title is not sent: an SMS template has no title.

Any answer whose `Code` is not "OK" is a failure with that code (`isv.BUSINESS_LIMIT_CONTROL`,
`isv.MOBILE_NUMBER_ILLEGAL`, `SignatureDoesNotMatch`, `InvalidAccessKeyId.NotFound`, ...).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from notify.gateways._signing import (
    GatewayError,
    Route,
    aliyun_signed_query,
    aliyun_timestamp,
    credentials,
    phone_of,
    problem_from_http,
    problem_from_transport,
    required_option,
    route,
    text_values,
)

__all__ = ["PROVIDER", "SCHEME", "AliyunMessage", "deliver", "interpret", "message_from_url", "request_url"]

PROVIDER = "aliyun"
SCHEME = "aliyunsms"
API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
DEFAULT_REGION = "cn-hangzhou"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class AliyunMessage:
    """One SendSms call, as read from the apprise URL and body."""

    access_key_id: str
    access_key_secret: str
    phone: str
    sign: str
    template: str
    template_param: str
    route: Route


def message_from_url(meta: Mapping[str, Any], body: str) -> AliyunMessage:
    """Reads apprise's parsed URL (`meta`); raises GatewayError("config", ...) if a part is missing."""
    qsd: Mapping[str, str] = meta.get("qsd") or {}
    key_id, secret = credentials(meta, "ACCESS_KEY_ID", "ACCESS_KEY_SECRET")
    return AliyunMessage(
        access_key_id=key_id,
        access_key_secret=secret,
        phone=phone_of(meta),
        sign=required_option(qsd, "sign", "the approved SMS signature name, SignName"),
        template=required_option(qsd, "template", "the template code, e.g. SMS_123456"),
        template_param=json.dumps(text_values(body), ensure_ascii=False, separators=(",", ":")),
        route=route(qsd, DEFAULT_ENDPOINT, DEFAULT_REGION),
    )


def request_url(message: AliyunMessage, *, timestamp: datetime, nonce: str) -> str:
    """The signed GET URL; deterministic given the timestamp and nonce."""
    params = {
        "AccessKeyId": message.access_key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "PhoneNumbers": message.phone,
        "RegionId": message.route.region,
        "SignName": message.sign,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "TemplateCode": message.template,
        "TemplateParam": message.template_param,
        "Timestamp": aliyun_timestamp(timestamp),
        "Version": API_VERSION,
    }
    return f"{message.route.url}?{aliyun_signed_query(params, message.access_key_secret)}"


def interpret(status: int, content: bytes) -> GatewayError | None:
    """None when Aliyun accepted the message; else the problem, with Aliyun's code when it gave one."""
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "Code" not in answer:
        return problem_from_http(status, content)
    if answer["Code"] == "OK" and status == 200:
        return None
    return GatewayError(str(answer["Code"]), str(answer.get("Message") or "no message"))


def deliver(meta: Mapping[str, Any], body: str) -> GatewayError | None:
    """Sends one message; returns None on success, else why not. Never raises for a failed send."""
    try:
        message = message_from_url(meta, body)
    except GatewayError as problem:
        return problem
    url = request_url(message, timestamp=datetime.now(UTC), nonce=uuid.uuid4().hex)
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            response = client.get(url)
    except httpx.HTTPError as error:
        return problem_from_transport(error)
    return interpret(response.status_code, response.content)
