"""The pure alert rules: when a case is looked at again, quiet hours, backoff, templates."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from notify.rules import (
    DEFAULT_TEMPLATES,
    CaseFacts,
    Contact,
    Directory,
    NotifyConfig,
    UnitContacts,
    backoff,
    channel_of,
    format_deadline,
    next_alert_at,
    not_before,
    plan,
    quiet_until,
    render,
    still_relevant,
)
from server.calendar.lights import next_light_change
from server.calendar.workdays import Calendar, CalendarYear
from server.cases.domain import CaseState

SHANGHAI = "Asia/Shanghai"
CAL = Calendar.of(
    [CalendarYear(year=2026, holidays=(datetime(2026, 10, 1).date(),), workdays=(), source="test")],
    tz=SHANGHAI,
)
# Thursday 3 December 2026, 00:00 Shanghai (a deadline at the end of Wednesday), and its warning.
DUE = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
WARN = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


def test_next_light_change_walks_warn_then_due_then_stops() -> None:
    assert next_light_change(DUE, WARN, None) == WARN
    assert next_light_change(DUE, WARN, None, after=WARN) == DUE
    assert next_light_change(DUE, WARN, None, after=DUE) is None
    assert next_light_change(DUE, None, None) == DUE
    assert next_light_change(DUE, WARN, stopped_at=WARN) is None
    assert next_light_change(None, None, None) is None


def _state(**fields) -> CaseState:
    base = {
        "id": uuid.uuid4(),
        "district_id": 1,
        "ticket": "2026-000001",
        "type": "complaint",
        "category_id": None,
    }
    return CaseState(**(base | fields))


def test_next_alert_at_points_at_what_is_owed_first() -> None:
    registered = DUE - timedelta(days=5)
    open_case = _state(status="dispatched", due_at=DUE, warn_at=WARN, registered_at=registered)
    assert next_alert_at(open_case) == WARN
    assert next_alert_at(msgspec.structs.replace(open_case, has_contact=True)) == registered
    assert next_alert_at(msgspec.structs.replace(open_case, resolved_at=WARN, status="resolved")) is None
    closed = _state(status="closed", closed_at=DUE, has_contact=True, registered_at=registered)
    assert next_alert_at(closed) == DUE
    assert next_alert_at(msgspec.structs.replace(closed, has_contact=False)) is None
    assert next_alert_at(_state(status="registered")) is None


def test_quiet_hours_hold_all_but_red_until_seven_local() -> None:
    config = NotifyConfig()
    night = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # 23:30 Shanghai
    seven = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 07:00 next morning
    assert quiet_until(night, config, SHANGHAI) == seven
    assert quiet_until(datetime(2026, 12, 2, 20, 0, tzinfo=UTC), config, SHANGHAI) == seven  # 04:00
    assert quiet_until(datetime(2026, 12, 2, 2, 0, tzinfo=UTC), config, SHANGHAI) is None  # 10:00
    assert not_before("yellow", night, config, SHANGHAI) == seven
    assert not_before("red", night, config, SHANGHAI) == night
    off = NotifyConfig(quiet_start="00:00", quiet_end="00:00")
    assert not_before("yellow", night, off, SHANGHAI) == night
    day_shift = NotifyConfig(quiet_start="12:00", quiet_end="14:00")
    noon = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 12:30
    assert quiet_until(noon, day_shift, SHANGHAI) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def test_bad_district_settings_fail_when_read() -> None:
    for bad in ({"quiet_start": "25:00"}, {"templates": {"purple": "x"}}, {"unknown": 1}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, NotifyConfig)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff(n, 30, 3600, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(3600, 30 * 2 ** (n - 1))
        assert nominal * 0.5 <= delay <= nominal * 1.5
    assert len({round(backoff(3, 30, 3600, rng), 6) for _ in range(20)}) > 1


def test_alerts_about_a_deadline_the_case_no_longer_has_are_dropped() -> None:
    assert still_relevant("yellow", DUE, "dispatched", DUE, None)
    assert not still_relevant("yellow", DUE, "dispatched", DUE + timedelta(days=3), None)
    assert not still_relevant("red", DUE, "closed", DUE, None)
    assert not still_relevant("reminder", DUE, "resolved", DUE, WARN)
    assert still_relevant("receipt", None, "closed", None, None)


def test_channels_come_from_the_url_scheme() -> None:
    assert channel_of(()) == "outbox"
    assert channel_of(("aliyunsms://k:s@138?sign=a&template=b",)) == "sms"
    assert channel_of(("tencentsms://k:s@138",)) == "sms"
    assert channel_of(("wecombot://key",)) == "wecom"
    assert channel_of(("dingtalk://token",)) == "dingtalk"
    assert channel_of(("mailto://u:p@example.org",)) == "email"
    assert channel_of(("json://127.0.0.1:9/x",)) == "webhook"


def test_render_takes_names_only_and_leaves_unknown_ones() -> None:
    assert render("{ticket} {nope} {ticket.__class__}", {"ticket": "T"}) == "T {nope} {ticket.__class__}"
    assert format_deadline(DUE, SHANGHAI) == "2026-12-02 24:00"
    assert format_deadline(DUE + timedelta(hours=2, minutes=5), SHANGHAI) == "2026-12-03 02:05"


def _facts(**fields) -> CaseFacts:
    base = dict(
        id=str(uuid.uuid4()),
        district_id=1,
        district_name="河畔区",
        ticket="2026-000123",
        type="complaint",
        status="dispatched",
        category="市政",
        address="柳树路12号",
        registered_at=WARN - timedelta(days=3),
        due_at=DUE,
        warn_at=WARN,
        resolved_at=None,
        lead_unit_id=7,
        assignee_id=9,
        complainant_name="张三",
        complainant_phone="13700000001",
        anonymous=False,
        lookup_code="48151623",
    )
    return CaseFacts(**(base | fields))


DIRECTORY = Directory(
    units={
        7: UnitContacts(
            unit=Contact(key="unit:7", role="unit", name="城管局", unit_id=7),
            leader=Contact(
                key="13800000001", role="leader_in_charge", name="李分管", phone="13800000001", unit_id=7
            ),
            head=Contact(key="13800000002", role="head", name="王主要", phone="13800000002", unit_id=7),
        )
    },
    users={
        9: Contact(key="user:9", role="assignee", name="何网格", phone="13900000009", user_id=9, unit_id=8)
    },
)


def test_each_default_template_renders_with_ticket_category_address_deadline_and_days_left() -> None:
    at = DUE + timedelta(hours=9)  # overdue
    drafts = plan(_facts(), DIRECTORY, NotifyConfig(), CAL, WARN) + plan(
        _facts(), DIRECTORY, NotifyConfig(), CAL, at
    )
    texts = {(d.level, d.recipient.key): d.text for d in drafts}
    assert set(texts) == {
        ("receipt", "13700000001"),
        ("reminder", "unit:7"),
        ("reminder", "user:9"),
        ("yellow", "13800000001"),
        ("red", "13800000002"),
        ("supervision", "unit:7"),
    }
    # First seen overdue, a case gets red and supervision, not a warning about time left.
    assert {d.level for d in plan(_facts(), DIRECTORY, NotifyConfig(), CAL, at)} == {
        "receipt",
        "red",
        "supervision",
    }
    for text in texts.values():
        assert text.startswith("【河畔区】") and "2026-000123" in text and "{" not in text
    assert texts[("red", "13800000002")] == (
        "【河畔区】红灯告警：城管局承办的案件2026-000123（市政，柳树路12号）已于2026-12-02 24:00超期，"
        "已列入督办，请主要领导过问。"
    )
    assert texts[("receipt", "13700000001")] == (
        "【河畔区】您反映的问题已受理，受理编号2026-000123，查询码48151623，可凭编号和查询码查询办理进度。"
    )
    # Time left in working days, counted on the calendar: at the warning instant one full day.
    yellow = {d.level: d.text for d in plan(_facts(), DIRECTORY, NotifyConfig(), CAL, WARN)}
    assert "剩余1个工作日" in yellow["yellow"] and "剩余1个工作日" in yellow["reminder"]
    closing = {d.level: d.text for d in plan(_facts(status="closed"), DIRECTORY, NotifyConfig(), CAL, at)}
    assert closing["closing"] == "【河畔区】您反映的问题（受理编号2026-000123）已办结，感谢您的监督。"
    # A case closed without being handled says what happened instead of "done".
    refused = plan(_facts(status="closed", disposition="refused"), DIRECTORY, NotifyConfig(), CAL, at)
    assert {d.level: d.text for d in refused}["closing"] == (
        "【河畔区】您反映的问题（受理编号2026-000123）经审查不予受理，原因可凭编号和查询码查询。"
    )
    referred = plan(
        _facts(status="closed", disposition="referred", referred_to="119"), DIRECTORY, NotifyConfig(), CAL, at
    )
    assert {d.level: d.text for d in referred}["closing"] == (
        "【河畔区】您反映的问题（受理编号2026-000123）已转消防救援（119）处理。"
    )
    assert set(DEFAULT_TEMPLATES) == {"reminder", "yellow", "red", "supervision", "receipt", "closing"}


def test_a_district_template_replaces_the_default() -> None:
    config = NotifyConfig(
        templates={"yellow": "{ticket}: {days_left} day(s) left at {address}, due {deadline}"}
    )
    drafts = plan(_facts(), DIRECTORY, config, CAL, WARN + timedelta(hours=12))
    yellow = next(d.text for d in drafts if d.level == "yellow")
    assert yellow == "2026-000123: 0.5 day(s) left at 柳树路12号, due 2026-12-02 24:00"


def test_an_accusation_reaches_nobody_in_the_accused_subtree() -> None:
    accused = _facts(
        type="report", accused_unit_ids=frozenset({8}), accused_user_id=9, accused_phone="138 0000 0001"
    )
    keys = {
        (d.level, d.recipient.key)
        for at in (WARN, DUE + timedelta(hours=9))
        for d in plan(accused, DIRECTORY, NotifyConfig(), CAL, at)
    }
    assert ("reminder", "user:9") not in keys  # the accused person (and their unit 8)
    assert ("yellow", "13800000001") not in keys  # the same person by phone
    assert {("red", "13800000002"), ("supervision", "unit:7"), ("reminder", "unit:7")} <= keys


def test_anonymous_or_unnamed_complainants_get_no_sms() -> None:
    for facts in (_facts(anonymous=True), _facts(complainant_name=""), _facts(complainant_phone=" ")):
        assert "receipt" not in {d.level for d in plan(facts, DIRECTORY, NotifyConfig(), CAL, WARN)}


def test_an_sms_gateway_url_of_the_district_reaches_people_without_their_own() -> None:
    config = NotifyConfig(sms_url="aliyunsms://k:s@{phone}?sign=x&template=SMS_1")
    drafts = {d.level: d for d in plan(_facts(), DIRECTORY, config, CAL, WARN)}
    assert drafts["yellow"].recipient.urls == ("aliyunsms://k:s@13800000001?sign=x&template=SMS_1",)
    assert drafts["yellow"].channel == "sms"
    assert drafts["receipt"].recipient.urls == ("aliyunsms://k:s@13700000001?sign=x&template=SMS_1",)
