"""A local stand-in for the Aliyun and Tencent Cloud SMS APIs, on 127.0.0.1.

Why: the plugins must be tested end to end (apprise → HTTP → gateway → answer) without a real
account, and a fake that accepted anything would prove nothing. So this server checks what the real
ones check, from the providers' published algorithms, written here again on purpose without
importing `notify.gateways` (a bug in the plugin's signing cannot cancel itself out):

- Aliyun (`GET /?...`, dysmsapi RPC style): the HMAC-SHA1 RPC signature, the key id, Action,
  Version, a Timestamp within 15 minutes and a fresh SignatureNonce; refusals come in Aliyun's
  shape (`{"Code": "SignatureDoesNotMatch", "Message": ..., "RequestId": ...}`, HTTP 4xx).
- Tencent (`POST /`, API 3.0): the TC3-HMAC-SHA256 Authorization over the received content-type and
  host, the secret id, X-TC-Action/-Version/-Region, an X-TC-Timestamp within 5 minutes; refusals
  in Tencent's shape (`{"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", ...}}}`).

Every accepted message is recorded in `received`. A test can script the next answers:
`fail_next(provider, code)` (the provider's business error), `http_500_next(provider)` and
`close_next(provider)` (drop the connection without an answer), and move the gateway's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, quote_plus, urlsplit

__all__ = ["FakeGateways", "Received"]

Provider = Literal["aliyun", "tencent"]

ALIYUN_WINDOW_SECONDS = 15 * 60
TENCENT_WINDOW_SECONDS = 5 * 60
_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Received:
    """One message a fake gateway accepted."""

    provider: Provider
    phone: str
    sign: str
    template: str
    params: Any  # Aliyun: the TemplateParam object; Tencent: the TemplateParamSet list
    sdk_app_id: str | None = None
    region: str | None = None


@dataclass
class _Script:
    kind: Literal["error", "http500", "close"]
    code: str = ""
    message: str = ""
    where: Literal["status", "error"] = "status"


class _RefusalError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeGateways:
    """Both fake gateways on one port: Aliyun answers GET, Tencent answers POST."""

    aliyun_keys: dict[str, str]
    tencent_keys: dict[str, str]
    clock: Callable[[], float] = time.time
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    _scripts: dict[str, list[_Script]] = field(default_factory=lambda: {"aliyun": [], "tencent": []})
    _nonces: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None

    # ---- control ---------------------------------------------------------------------------

    def start(self) -> FakeGateways:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.requests = 0
            self._scripts = {"aliyun": [], "tencent": []}
            self._nonces.clear()
            self.clock = time.time

    def fail_next(
        self,
        provider: Provider,
        code: str,
        message: str = "scripted failure",
        count: int = 1,
        where: Literal["status", "error"] = "status",
    ) -> None:
        """The next `count` well-signed requests get this provider error (Tencent: in SendStatusSet
        for where="status", as Response.Error for where="error")."""
        self._script(provider, _Script("error", code, message, where), count)

    def http_500_next(self, provider: Provider, count: int = 1) -> None:
        self._script(provider, _Script("http500"), count)

    def close_next(self, provider: Provider, count: int = 1) -> None:
        self._script(provider, _Script("close"), count)

    def _script(self, provider: Provider, script: _Script, count: int) -> None:
        with self._lock:
            self._scripts[provider].extend([script] * count)

    def _take(self, provider: Provider, kinds: tuple[str, ...]) -> _Script | None:
        with self._lock:
            queue = self._scripts[provider]
            if queue and queue[0].kind in kinds:
                return queue.pop(0)
            return None

    def _record(self, message: Received) -> None:
        with self._lock:
            self.received.append(message)

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _fresh_nonce(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._nonces:
                return False
            self._nonces.add(nonce)
            return True

    # ---- Aliyun ----------------------------------------------------------------------------

    def aliyun(self, query: str) -> tuple[int, dict[str, Any]]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            self._aliyun_authenticate(params)
            scripted = self._take("aliyun", ("error",))
            if scripted is not None:
                return 200, _aliyun_error(scripted.code, scripted.message)
            self._record(_aliyun_message(params))
        except _RefusalError as refusal:
            return refusal.status, _aliyun_error(refusal.code, refusal.message)
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "BizId": f"{uuid.uuid4().int % 10**18}^0",
            "RequestId": str(uuid.uuid4()).upper(),
        }

    def _aliyun_authenticate(self, params: dict[str, str]) -> None:
        signature = params.pop("Signature", "")
        secret = self.aliyun_keys.get(params.get("AccessKeyId", ""))
        if secret is None:
            raise _RefusalError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("Action") != "SendSms":
            raise _RefusalError(
                404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
            )
        if params.get("Version") != "2017-05-25":
            raise _RefusalError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if (params.get("SignatureMethod"), params.get("SignatureVersion")) != ("HMAC-SHA1", "1.0"):
            raise _RefusalError(
                400, "InvalidParameter", "SignatureMethod must be HMAC-SHA1, SignatureVersion 1.0."
            )
        self._aliyun_check_time(params.get("Timestamp", ""))
        if not hmac.compare_digest(signature, _aliyun_expected(params, secret)):
            raise _RefusalError(
                400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        if not self._fresh_nonce(params.get("SignatureNonce", "")):
            raise _RefusalError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")

    def _aliyun_check_time(self, stamp: str) -> None:
        try:
            moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise _RefusalError(
                400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
            ) from None
        if abs(self.clock() - moment.timestamp()) > ALIYUN_WINDOW_SECONDS:
            raise _RefusalError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    # ---- Tencent ---------------------------------------------------------------------------

    def tencent(self, headers: dict[str, str], payload: bytes) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        try:
            self._tencent_authenticate(headers, payload)
            body = _tencent_body(payload)
            scripted = self._take("tencent", ("error",))
            if scripted is not None and scripted.where == "error":
                raise _RefusalError(200, scripted.code, scripted.message)
        except _RefusalError as refusal:
            return {
                "Response": {
                    "Error": {"Code": refusal.code, "Message": refusal.message},
                    "RequestId": request_id,
                }
            }
        region = headers.get("x-tc-region")
        statuses = [self._tencent_status(body, phone, scripted, region) for phone in body["PhoneNumberSet"]]
        return {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}

    def _tencent_status(
        self, body: dict[str, Any], phone: str, scripted: _Script | None, region: str | None
    ) -> dict[str, Any]:
        status = {
            "SerialNo": uuid.uuid4().hex,
            "PhoneNumber": phone,
            "Fee": 1,
            "SessionContext": "",
            "Code": "Ok",
            "Message": "send success",
            "IsoCode": "CN",
        }
        if scripted is not None:
            return status | {"Code": scripted.code, "Message": scripted.message, "Fee": 0}
        if not re.fullmatch(r"\+[0-9]{6,20}", phone):
            return status | {
                "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                "Message": "incorrect number format",
                "Fee": 0,
            }
        self._record(
            Received(
                "tencent",
                phone,
                body["SignName"],
                body["TemplateId"],
                body["TemplateParamSet"],
                body["SmsSdkAppId"],
                region,
            )
        )
        return status

    def _tencent_authenticate(self, headers: dict[str, str], payload: bytes) -> None:
        match = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if match is None:
            raise _RefusalError(200, "AuthFailure.InvalidAuthorization", "Authorization is not in TC3 form.")
        secret = self.tencent_keys.get(match["id"])
        if secret is None:
            raise _RefusalError(200, "AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise _RefusalError(200, "InvalidParameter", "X-TC-Timestamp is not an integer.") from None
        if abs(self.clock() - timestamp) > TENCENT_WINDOW_SECONDS:
            raise _RefusalError(
                200, "AuthFailure.SignatureExpire", "Signature expired. Timestamp is out of range."
            )
        expected = _tencent_expected(headers, payload, secret, timestamp, match["signed"])
        if (match["service"], match["date"]) != ("sms", _utc_day(timestamp)) or not hmac.compare_digest(
            expected, match["signature"]
        ):
            raise _RefusalError(
                200,
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        _tencent_common_headers(headers)


# ---- the providers' algorithms, written independently of notify.gateways ---------------------


def _pop_encode(text: str) -> str:
    """Aliyun's own recipe: form-encode, then `+` → %20, `*` → %2A, %7E → `~`."""
    return quote_plus(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def _aliyun_expected(params: dict[str, str], secret: str) -> str:
    pairs = sorted((_pop_encode(k), _pop_encode(v)) for k, v in params.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    to_sign = "GET&" + _pop_encode("/") + "&" + _pop_encode(canonical)
    mac = hmac.new((secret + "&").encode("utf-8"), to_sign.encode("utf-8"), "sha1")
    return base64.b64encode(mac.digest()).decode()


def _aliyun_message(params: dict[str, str]) -> Received:
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(name):
            raise _RefusalError(400, "MissingParameter", f"{name} is mandatory for this action.")
    try:
        template_param = json.loads(params.get("TemplateParam", "{}"))
    except ValueError:
        raise _RefusalError(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值") from None
    return Received(
        "aliyun",
        params["PhoneNumbers"],
        params["SignName"],
        params["TemplateCode"],
        template_param,
        region=params.get("RegionId"),
    )


def _aliyun_error(code: str, message: str) -> dict[str, Any]:
    return {
        "RequestId": str(uuid.uuid4()).upper(),
        "Message": message,
        "Code": code,
        "HostId": "dysmsapi.aliyuncs.com",
    }


def _utc_day(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def _tencent_expected(
    headers: dict[str, str], payload: bytes, secret: str, timestamp: int, signed: str
) -> str:
    names = signed.split(";")
    canonical_headers = "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, signed, hashlib.sha256(payload).hexdigest()]
    )
    day = _utc_day(timestamp)
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{day}/sms/tc3_request",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = ("TC3" + secret).encode("utf-8")
    for part in (day, "sms", "tc3_request"):
        key = hmac.new(key, part.encode("utf-8"), "sha256").digest()
    return hmac.new(key, to_sign.encode("utf-8"), "sha256").hexdigest()


def _tencent_common_headers(headers: dict[str, str]) -> None:
    if headers.get("x-tc-action") != "SendSms":
        raise _RefusalError(200, "InvalidAction", "The requested action does not exist.")
    if headers.get("x-tc-version") != "2021-01-11":
        raise _RefusalError(200, "NoSuchVersion", "The requested version does not exist.")
    if not headers.get("x-tc-region"):
        raise _RefusalError(200, "MissingParameter", "The X-TC-Region header is missing.")
    if not headers.get("content-type", "").startswith("application/json"):
        raise _RefusalError(200, "InvalidParameter", "Content-Type must be application/json.")


def _tencent_body(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except ValueError:
        raise _RefusalError(200, "InvalidParameter", "The body is not JSON.") from None
    for name in ("PhoneNumberSet", "SmsSdkAppId", "SignName", "TemplateId"):
        if not body.get(name):
            raise _RefusalError(200, "MissingParameter", f"The parameter `{name}` is missing.")
    params = body.get("TemplateParamSet", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise _RefusalError(
            200, "InvalidParameterValue.TemplateParameterFormatError", "TemplateParamSet must be strings."
        )
    body["TemplateParamSet"] = params
    return dict(body)


# ---- HTTP --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGateways


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeGateways:
        return cast(_Server, self.server).fake

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.fake._count_request()
        if self._broken("aliyun"):
            return
        status, answer = self.fake.aliyun(urlsplit(self.path).query)
        self._answer(status, answer)

    def do_POST(self) -> None:
        self.fake._count_request()
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._broken("tencent"):
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._answer(200, self.fake.tencent(headers, payload))

    def _broken(self, provider: Provider) -> bool:
        scripted = self.fake._take(provider, ("http500", "close"))
        if scripted is None:
            return False
        if scripted.kind == "close":
            self.close_connection = True
            return True
        body = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
