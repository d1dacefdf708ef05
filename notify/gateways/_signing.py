"""The two providers' request signatures, and the URL and body helpers they share, as pure functions.

Why apart from the senders: a signature is only right if it matches the provider's own published
example byte for byte, and that is testable only when nothing here reads the clock, draws a nonce
or opens a socket. Every input (timestamp, nonce, payload) is an argument, so the published test
vectors can be replayed exactly (see tests/notify/test_sms_gateways.py).

- Aliyun (dysmsapi, RPC style): the "RPC signature", HMAC-SHA1 over
  `GET&%2F&` + percent-encode(sorted, percent-encoded query), keyed with `AccessKeySecret + "&"`.
- Tencent Cloud API 3.0: TC3-HMAC-SHA256 over a canonical request of the JSON POST, with a key
  derived from the secret through the date, the service and `tc3_request`.

The rest (reading the apprise URL's parts, turning the body into template parameters, naming a
transport error) is here only because both gateways need it the same way; none of it does I/O.
Problems are raised as `GatewayError(code, message)`, which the gateway turns into a failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "TC3_CONTENT_TYPE",
    "TC3_SIGNED_HEADERS",
    "GatewayError",
    "Route",
    "aliyun_canonical_query",
    "aliyun_signature",
    "aliyun_signed_query",
    "aliyun_string_to_sign",
    "aliyun_timestamp",
    "credentials",
    "mask_phone",
    "percent_encode",
    "phone_of",
    "problem_from_http",
    "problem_from_transport",
    "required_option",
    "route",
    "tc3_authorization",
    "tc3_canonical_request",
    "tc3_date",
    "tc3_signature",
    "tc3_string_to_sign",
    "template_values",
    "text_values",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"
TC3_CONTENT_TYPE = "application/json; charset=utf-8"
TC3_SIGNED_HEADERS = "content-type;host"


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun wants it: only A-Z a-z 0-9 - _ . ~ stay; space is %20, * is %2A."""
    return quote(value, safe="~")


def aliyun_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC, second precision: `YYYY-MM-DDThh:mm:ssZ`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aliyun_canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name, names and values percent-encoded, joined with `&`."""
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def aliyun_string_to_sign(params: Mapping[str, str], method: str = "GET") -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(aliyun_canonical_query(params))}"


def aliyun_signature(params: Mapping[str, str], secret: str, method: str = "GET") -> str:
    """base64(HMAC-SHA1(secret + "&", StringToSign)); `params` must not contain `Signature`."""
    digest = hmac.new(
        f"{secret}&".encode(), aliyun_string_to_sign(params, method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def aliyun_signed_query(params: Mapping[str, str], secret: str) -> str:
    """The whole query string of a signed GET: `Signature=...&` + the canonical query."""
    signature = percent_encode(aliyun_signature(params, secret))
    return f"Signature={signature}&{aliyun_canonical_query(params)}"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def tc3_date(timestamp: int) -> str:
    """The credential-scope date: the UTC calendar day of the timestamp, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def tc3_canonical_request(host: str, payload: bytes, content_type: str = TC3_CONTENT_TYPE) -> str:
    """POST to `/`, no query, the two signed headers (lower-cased), then the payload's SHA-256."""
    headers = f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n"
    return f"POST\n/\n\n{headers}\n{TC3_SIGNED_HEADERS}\n{_sha256_hex(payload)}"


def tc3_string_to_sign(timestamp: int, service: str, canonical_request: str) -> str:
    scope = f"{tc3_date(timestamp)}/{service}/tc3_request"
    return f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{_sha256_hex(canonical_request.encode())}"


def tc3_signature(secret_key: str, timestamp: int, service: str, string_to_sign: str) -> str:
    """hex(HMAC-SHA256(SecretSigning, StringToSign)), SecretSigning derived via date and service."""
    secret_date = _hmac_sha256(f"TC3{secret_key}".encode(), tc3_date(timestamp))
    secret_service = _hmac_sha256(secret_date, service)
    secret_signing = _hmac_sha256(secret_service, "tc3_request")
    return hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(
    secret_id: str, secret_key: str, *, host: str, service: str, timestamp: int, payload: bytes
) -> str:
    """The `Authorization` header value for a JSON POST to `https://host/`."""
    string_to_sign = tc3_string_to_sign(timestamp, service, tc3_canonical_request(host, payload))
    signature = tc3_signature(secret_key, timestamp, service, string_to_sign)
    return (
        f"{TC3_ALGORITHM} Credential={secret_id}/{tc3_date(timestamp)}/{service}/tc3_request, "
        f"SignedHeaders={TC3_SIGNED_HEADERS}, Signature={signature}"
    )


# ---- shared URL and body helpers ------------------------------------------------------------------

_ENDPOINT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_PHONE = re.compile(r"\+?[0-9]{5,20}")


class GatewayError(Exception):
    """Why one message was not sent: the provider's own code when it gave one, else ours."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: `scheme://endpoint/` and the region it names."""

    scheme: str
    endpoint: str
    region: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.endpoint}/"


def required_option(qsd: Mapping[str, str], name: str, meaning: str) -> str:
    value = (qsd.get(name) or "").strip()
    if not value:
        raise GatewayError("config", f"the URL has no {name}= ({meaning}); nothing was sent")
    return value


def credentials(meta: Mapping[str, Any], id_name: str, secret_name: str) -> tuple[str, str]:
    """`user:password` of the URL, percent-decoded (apprise hands them over still encoded)."""
    user = unquote(str(meta.get("user") or ""))
    password = unquote(str(meta.get("password") or ""))
    if not user or not password:
        raise GatewayError("config", f"the URL must start {id_name}:{secret_name}@PHONE; nothing was sent")
    return user, password


def phone_of(meta: Mapping[str, Any]) -> str:
    phone = re.sub(r"[\s-]", "", unquote(str(meta.get("host") or "")))
    if not _PHONE.fullmatch(phone):
        raise GatewayError("config", f"the URL's host must be the phone number, not {phone!r}")
    return phone


def route(qsd: Mapping[str, str], default_endpoint: str, default_region: str) -> Route:
    """`endpoint` (host[:port]), `scheme` (http|https) and `region` from the query, else defaults."""
    endpoint = (qsd.get("endpoint") or default_endpoint).strip()
    scheme = (qsd.get("scheme") or "https").strip().lower()
    if not _ENDPOINT.fullmatch(endpoint):
        raise GatewayError("config", f"endpoint= must be host[:port], not {endpoint!r}")
    if scheme not in ("http", "https"):
        raise GatewayError("config", f"scheme= must be http or https, not {scheme!r}")
    return Route(scheme, endpoint, (qsd.get("region") or default_region).strip())


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def template_values(body: str) -> dict[str, str] | None:
    """The body as template parameters if it is a JSON object (key order kept), else None.

    Values are sent as text, since both providers substitute text: numbers and the like become
    their JSON spelling.
    """
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): _as_text(v) for k, v in value.items()}


def text_values(body: str) -> dict[str, str]:
    """The template parameters of a body: its JSON object, or `{"content": body}` for plain text."""
    values = template_values(body)
    return {"content": body} if values is None else values


def mask_phone(phone: str) -> str:
    """For logs: enough of the number to tell two apart, not enough to call the citizen."""
    return phone if len(phone) < 7 else f"{phone[:-8]}****{phone[-4:]}"


def problem_from_transport(error: Exception) -> GatewayError:
    """A request that got no HTTP answer: refused, reset, timed out."""
    detail = str(error) or "no detail"
    return GatewayError("network", f"{type(error).__name__}: {detail}")


def problem_from_http(status: int, body: bytes) -> GatewayError:
    """An answer not in the provider's shape: `http.STATUS` (a proxy's or server's error page), or
    `bad_response` when even a 200 carried something other than the provider's JSON."""
    snippet = body[:200].decode("utf-8", "replace").strip() or "empty body"
    return GatewayError("bad_response" if status == 200 else f"http.{status}", snippet)
