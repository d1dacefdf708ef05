"""Aliyun and Tencent Cloud SMS through apprise, against the providers' published signing examples
and a local fake gateway that re-checks every signature (tests/notify/fake_gateways.py).

No database and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import apprise
import httpx
import pytest
from apprise.utils.parse import parse_url

from notify import gateways
from notify.gateways import _signing, aliyun, tencent
from tests.notify.fake_gateways import FakeGateways

ALIYUN_ID, ALIYUN_SECRET = "LTAI5tTestKeyId", "aliyun+secret/with=odd*chars"
TENCENT_ID, TENCENT_SECRET = "AKIDtestSecretId0000", "tencent+secret/key"
SIGN = "城市网格"
UrlMaker = Callable[..., str]
Provider = Literal["aliyun", "tencent"]
TICKET = {"ticket": "2026-000123", "days": "1", "area": "朝阳区 三里屯"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGateways]:
    fake = FakeGateways({ALIYUN_ID: ALIYUN_SECRET}, {TENCENT_ID: TENCENT_SECRET}).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeGateways) -> FakeGateways:
    server.reset()
    return server


def aliyun_url(
    fake: FakeGateways,
    phone: str = "13800138000",
    secret: str = ALIYUN_SECRET,
    key_id: str = ALIYUN_ID,
    **options: str,
) -> str:
    query = {"sign": SIGN, "template": "SMS_123456", "endpoint": fake.endpoint, "scheme": "http"} | options
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items() if v)
    return f"aliyunsms://{quote(key_id, safe='')}:{quote(secret, safe='')}@{phone}?{qs}"


def tencent_url(
    fake: FakeGateways,
    phone: str = "13800138000",
    secret: str = TENCENT_SECRET,
    secret_id: str = TENCENT_ID,
    **options: str,
) -> str:
    query = {
        "sdkappid": "1400000000",
        "sign": SIGN,
        "template": "123456",
        "endpoint": fake.endpoint,
        "scheme": "http",
    } | options
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items() if v)
    return f"tencentsms://{quote(secret_id, safe='')}:{quote(secret, safe='')}@{phone}?{qs}"


# ---- published signing examples -----------------------------------------------------------------

# Aliyun SMS "签名机制" (signature method) doc, SendSms example: help.aliyun.com / alibabacloud.com
# /help/zh/sms/signature-method, also reproduced in developer.aliyun.com/ask/278546.
ALIYUN_DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
ALIYUN_DOC_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers"
    "%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA"
    "%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466"
    "%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer"
    "%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
)


def test_aliyun_signature_matches_the_published_sendsms_example() -> None:
    assert _signing.aliyun_string_to_sign(ALIYUN_DOC_PARAMS) == ALIYUN_DOC_STRING_TO_SIGN
    assert _signing.aliyun_signature(ALIYUN_DOC_PARAMS, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    query = _signing.aliyun_signed_query(ALIYUN_DOC_PARAMS, "testSecret")
    assert query.startswith("Signature=zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D&AccessKeyId=testId&Action=SendSms&")
    assert "&TemplateParam=%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&" in query


def test_aliyun_percent_encoding_follows_rfc3986_not_form_encoding() -> None:
    assert _signing.percent_encode("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"


# Tencent Cloud API 3.0 "签名方法 v3" / "Signature v3" doc, worked example (CVM DescribeInstances),
# e.g. tencentcloud.com/document/api/1021/34193; the doc masks the keys with ******* and the
# expected values below are computed with the keys exactly as printed.
TENCENT_DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_tencent_signature_matches_the_published_v3_example() -> None:
    canonical = _signing.tc3_canonical_request("cvm.tencentcloudapi.com", TENCENT_DOC_PAYLOAD)
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    to_sign = _signing.tc3_string_to_sign(1551113065, "cvm", canonical)
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    secret_key = "Gu5t9xGARNpq86cd98joQYCN3*******"
    signature = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert _signing.tc3_signature(secret_key, 1551113065, "cvm", to_sign) == signature
    assert _signing.tc3_authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key,
        host="cvm.tencentcloudapi.com",
        service="cvm",
        timestamp=1551113065,
        payload=TENCENT_DOC_PAYLOAD,
    ) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def test_tencent_date_is_the_utc_day_not_beijing_time() -> None:
    # 2019-02-26 00:44:25 in Beijing is still the 25th in UTC.
    assert _signing.tc3_date(1551113065) == "2019-02-25"


# ---- delivery through apprise -------------------------------------------------------------------


def test_aliyun_message_arrives_with_phone_sign_template_and_chinese_parameters(fake: FakeGateways) -> None:
    apobj = apprise.Apprise()
    assert apobj.add(aliyun_url(fake))
    assert apobj.notify(body=json.dumps(TICKET, ensure_ascii=False), title="ignored")
    [got] = fake.received
    assert (got.provider, got.phone, got.sign, got.template) == ("aliyun", "13800138000", SIGN, "SMS_123456")
    assert got.params == TICKET
    assert got.region == "cn-hangzhou"


def test_aliyun_plain_text_body_is_sent_as_content(fake: FakeGateways) -> None:
    assert gateways.send(aliyun_url(fake, region="cn-shanghai"), "工单 2026-000123 明日到期") == (True, None)
    [got] = fake.received
    assert got.params == {"content": "工单 2026-000123 明日到期"}
    assert got.region == "cn-shanghai"


def test_tencent_message_arrives_with_e164_phone_and_ordered_parameters(fake: FakeGateways) -> None:
    apobj = apprise.Apprise()
    assert apobj.add(tencent_url(fake))
    assert apobj.notify(body=json.dumps(TICKET, ensure_ascii=False))
    [got] = fake.received
    assert (got.provider, got.phone, got.sign, got.template) == ("tencent", "+8613800138000", SIGN, "123456")
    assert got.sdk_app_id == "1400000000"
    assert got.params == ["2026-000123", "1", "朝阳区 三里屯"]  # the JSON object's order, not sorted
    assert got.region == "ap-guangzhou"


def test_tencent_plain_text_body_is_the_single_parameter_and_plus_numbers_stay(fake: FakeGateways) -> None:
    assert gateways.send(tencent_url(fake, phone="%2B85261234567"), "明日到期") == (True, None)
    [got] = fake.received
    assert (got.phone, got.params) == ("+85261234567", ["明日到期"])


def test_tencent_phone_normalisation() -> None:
    assert [tencent.e164(p) for p in ("13800138000", "+8613800138000", "0085261234567")] == [
        "+8613800138000",
        "+8613800138000",
        "+85261234567",
    ]


def test_non_string_template_values_are_sent_as_text(fake: FakeGateways) -> None:
    assert gateways.send(tencent_url(fake), '{"days": 3, "urgent": true}') == (True, None)
    assert gateways.send(aliyun_url(fake), '{"days": 3}') == (True, None)
    assert [m.params for m in fake.received] == [["3", "true"], {"days": "3"}]


# ---- refused credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_url", "code"),
    [
        (lambda f: aliyun_url(f, secret="not-the-secret"), "SignatureDoesNotMatch"),
        (lambda f: aliyun_url(f, key_id="LTAIunknown"), "InvalidAccessKeyId.NotFound"),
        (lambda f: tencent_url(f, secret="not-the-secret"), "AuthFailure.SignatureFailure"),
        (lambda f: tencent_url(f, secret_id="AKIDunknown"), "AuthFailure.SecretIdNotFound"),
    ],
)
def test_refused_credentials_fail_with_the_providers_code(
    fake: FakeGateways, make_url: UrlMaker, code: str
) -> None:
    ok, reason = gateways.send(make_url(fake), json.dumps(TICKET))
    assert not ok
    assert reason is not None and code in reason
    assert fake.received == []
    assert fake.requests == 1


@pytest.mark.parametrize(
    ("make_url", "code"),
    [(aliyun_url, "InvalidTimeStamp.Expired"), (tencent_url, "AuthFailure.SignatureExpire")],
)
def test_a_stale_timestamp_is_refused(fake: FakeGateways, make_url: UrlMaker, code: str) -> None:
    # The gateway's clock runs 20 minutes ahead, so the plugin's fresh timestamp looks stale to it.
    fake.clock = lambda: time.time() + 20 * 60
    ok, reason = gateways.send(make_url(fake), "x")
    assert not ok and reason is not None and code in reason


def test_an_aliyun_signature_cannot_be_replayed(fake: FakeGateways) -> None:
    # The URL parsed as apprise parses it for the plugin.
    meta: dict[str, Any] = parse_url(aliyun_url(fake), verify_host=False, simple=True)  # type: ignore[no-untyped-call]
    message = aliyun.message_from_url(meta, "x")
    url = aliyun.request_url(message, timestamp=datetime.now(UTC), nonce="same-nonce")
    first, second = httpx.get(url), httpx.get(url)
    assert aliyun.interpret(first.status_code, first.content) is None
    problem = aliyun.interpret(second.status_code, second.content)
    assert problem is not None and problem.code == "SignatureNonceUsed"
    assert len(fake.received) == 1


# ---- provider business errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "make_url", "code", "where"),
    [
        ("aliyun", aliyun_url, "isv.BUSINESS_LIMIT_CONTROL", "status"),
        ("aliyun", aliyun_url, "isv.MOBILE_NUMBER_ILLEGAL", "status"),
        ("tencent", tencent_url, "LimitExceeded.PhoneNumberDailyLimit", "status"),
        ("tencent", tencent_url, "InvalidParameterValue.IncorrectPhoneNumber", "status"),
        ("tencent", tencent_url, "FailedOperation.InsufficientBalanceInSmsPackage", "error"),
    ],
)
def test_business_errors_fail_with_code_and_message(
    fake: FakeGateways, provider: Provider, make_url: UrlMaker, code: str, where: Literal["status", "error"]
) -> None:
    fake.fail_next(provider, code, "触发号码天级流控", where=where)
    url = make_url(fake)
    ok, reason = gateways.send(url, json.dumps(TICKET))
    assert (ok, reason) == (False, f"{provider} {code}: 触发号码天级流控")
    assert fake.received == []
    assert gateways.send(url, json.dumps(TICKET)) == (True, None)  # only the next request was scripted
    assert len(fake.received) == 1


def test_failure_is_logged_with_the_phone_masked_and_no_secret(
    fake: FakeGateways, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("aliyun", "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
    with caplog.at_level(logging.WARNING, logger="gridcase.notify"):
        assert not gateways.send(aliyun_url(fake), "x")[0]
    [record] = [r for r in caplog.records if r.name == "gridcase.notify"]
    text = record.getMessage()
    assert "isv.BUSINESS_LIMIT_CONTROL" in text and "138****8000" in text
    assert "13800138000" not in text and ALIYUN_SECRET not in text


# ---- broken gateways ----------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "make_url"), [("aliyun", aliyun_url), ("tencent", tencent_url)])
def test_http_500_fails_with_the_status(fake: FakeGateways, provider: Provider, make_url: UrlMaker) -> None:
    fake.http_500_next(provider)
    ok, reason = gateways.send(make_url(fake), "x")
    assert not ok and reason is not None and reason.startswith(f"{provider} http.500: ")


@pytest.mark.parametrize(("provider", "make_url"), [("aliyun", aliyun_url), ("tencent", tencent_url)])
def test_a_dropped_connection_fails_as_network(
    fake: FakeGateways, provider: Provider, make_url: UrlMaker
) -> None:
    fake.close_next(provider)
    ok, reason = gateways.send(make_url(fake), "x")
    assert not ok and reason is not None and reason.startswith(f"{provider} network: ")


@pytest.mark.parametrize("make_url", [aliyun_url, tencent_url])
def test_connection_refused_fails_as_network(fake: FakeGateways, make_url: UrlMaker) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ok, reason = gateways.send(make_url(fake, endpoint=f"127.0.0.1:{closed_port}"), "x")
    assert not ok and reason is not None and "network: ConnectError" in reason


# ---- URLs missing a part ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_url", "needle"),
    [
        (lambda f: aliyun_url(f, sign=""), "no sign="),
        (lambda f: aliyun_url(f, template=""), "no template="),
        (lambda f: aliyun_url(f, secret=""), "ACCESS_KEY_ID:ACCESS_KEY_SECRET@PHONE"),
        (lambda f: aliyun_url(f, scheme="ftp"), "scheme= must be http or https"),
        (lambda f: tencent_url(f, sign=""), "no sign="),
        (lambda f: tencent_url(f, template=""), "no template="),
        (lambda f: tencent_url(f, sdkappid=""), "no sdkappid="),
        (lambda f: tencent_url(f, endpoint="evil.example/path"), "endpoint= must be host[:port]"),
        (lambda f: tencent_url(f, phone="call-me"), "phone number"),
    ],
)
def test_an_incomplete_url_fails_clearly_without_a_request(
    fake: FakeGateways, make_url: UrlMaker, needle: str
) -> None:
    ok, reason = gateways.send(make_url(fake), "x")
    assert not ok
    assert reason is not None and " config: " in reason and needle in reason
    assert fake.requests == 0


def test_an_unknown_scheme_is_reported_by_send() -> None:
    assert gateways.send("nosuchsms://a:b@13800138000", "x") == (
        False,
        "apprise could not load the URL (unknown scheme or malformed)",
    )


# ---- capturing reasons --------------------------------------------------------------------------


def test_capture_collects_only_the_failed_urls_of_one_apprise_call(fake: FakeGateways) -> None:
    apobj = apprise.Apprise()
    apobj.add(aliyun_url(fake, phone="13800138001"))
    apobj.add(tencent_url(fake, phone="13800138002", secret="wrong"))
    with gateways.capture() as failures:
        assert not apobj.notify(body="x")
    assert [(f.provider, f.code, f.phone) for f in failures] == [
        ("tencent", "AuthFailure.SignatureFailure", "13800138002")
    ]
    assert [m.phone for m in fake.received] == ["13800138001"]


def test_concurrent_senders_each_get_their_own_reason(fake: FakeGateways) -> None:
    urls = {
        "refused": aliyun_url(fake, secret="wrong"),
        "ok": tencent_url(fake),
        "config": aliyun_url(fake, template=""),
    }
    results: dict[str, tuple[bool, str | None]] = {}

    def run(name: str) -> None:
        results[name] = gateways.send(urls[name], "x")

    threads = [threading.Thread(target=run, args=(name,)) for name in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["ok"] == (True, None)
    assert results["refused"][1] is not None and "SignatureDoesNotMatch" in results["refused"][1]
    assert results["config"][1] is not None and "no template=" in results["config"][1]
