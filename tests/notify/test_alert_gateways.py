"""One alert end to end through each fake SMS gateway (Aliyun, Tencent Cloud), which re-checks the
request signatures: the district's SMS URL for the leader in charge, a Tencent URL for the head."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from notify.worker import run_pass
from server.tables import District, Unit
from tests.notify.fake_gateways import FakeGateways
from tests.notify.test_alerts import HEAD_PHONE, LEADER_PHONE, alerts, dispatched, instant

ALIYUN_ID, ALIYUN_SECRET = "LTAI5tAlertKey", "aliyun/alert+secret"
TENCENT_ID, TENCENT_SECRET = "AKIDalerts000000", "tencent/alert+secret"
SIGN = "城市网格"


@pytest.fixture
def fake() -> Iterator[FakeGateways]:
    gateways = FakeGateways({ALIYUN_ID: ALIYUN_SECRET}, {TENCENT_ID: TENCENT_SECRET}).start()
    yield gateways
    gateways.stop()


def _q(value: str) -> str:
    return quote(value, safe="")


async def test_yellow_by_aliyun_and_red_by_tencent(client, login, world, fake: FakeGateways) -> None:
    aliyun = (
        f"aliyunsms://{_q(ALIYUN_ID)}:{_q(ALIYUN_SECRET)}@{{phone}}?sign={_q(SIGN)}&template=SMS_900001"
        f"&endpoint={fake.endpoint}&scheme=http"
    )
    tencent = (
        f"tencentsms://{_q(TENCENT_ID)}:{_q(TENCENT_SECRET)}@{HEAD_PHONE}?sdkappid=1400000000&sign={_q(SIGN)}"
        f"&template=900002&endpoint={fake.endpoint}&scheme=http"
    )
    await District.update({District.notify: {"sms_url": aliyun}}).where(District.id == world.district_id)
    await Unit.update({Unit.head_notify_url: tencent}).where(Unit.id == world.units["bureau"])
    case = await dispatched(client, login, world, complainant_name="", complainant_phone="")

    fake.fail_next("aliyun", "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控")
    await run_pass(instant(case["warn_at"], 8))
    [yellow] = await alerts(client, login, case_id=case["id"], level="yellow")
    assert (yellow["channel"], yellow["status"]) == ("sms", "pending")
    assert yellow["error"].startswith("aliyun isv.BUSINESS_LIMIT_CONTROL")
    await run_pass(instant(case["warn_at"], 9))
    [yellow] = await alerts(client, login, case_id=case["id"], level="yellow")
    assert (yellow["status"], yellow["attempts"], yellow["error"]) == ("sent", 2, "")

    await run_pass(instant(case["due_at"], 1))  # red goes at night; nothing else does
    [red] = await alerts(client, login, case_id=case["id"], level="red")
    assert (red["channel"], red["status"], red["recipient"]) == ("sms", "sent", HEAD_PHONE)

    got = [(m.provider, m.phone, m.sign, m.template) for m in fake.received]
    assert got == [
        ("aliyun", LEADER_PHONE, SIGN, "SMS_900001"),
        ("tencent", "+86" + HEAD_PHONE, SIGN, "900002"),
    ]
    aliyun_text = fake.received[0].params["content"]
    assert f"案件{case['ticket']}" in aliyun_text and "黄灯预警" in aliyun_text
    [tencent_text] = fake.received[1].params
    assert f"案件{case['ticket']}" in tencent_text and "红灯告警" in tencent_text


async def test_a_wrong_secret_ends_failed_with_the_providers_code(
    client, login, world, fake: FakeGateways
) -> None:
    wrong = (
        f"tencentsms://{_q(TENCENT_ID)}:wrong@{HEAD_PHONE}?sdkappid=1400000000&sign={_q(SIGN)}"
        f"&template=900002&endpoint={fake.endpoint}&scheme=http"
    )
    await Unit.update({Unit.head_notify_url: wrong}).where(Unit.id == world.units["bureau"])
    case = await dispatched(client, login, world)
    for hours in range(1, 200, 4):
        await run_pass(instant(case["due_at"], hours))
    [red] = await alerts(client, login, case_id=case["id"], level="red")
    assert (red["status"], red["attempts"]) == ("failed", 6)
    assert red["error"].startswith("tencent AuthFailure.SignatureFailure")
    assert fake.received == []
