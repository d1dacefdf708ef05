"""Which alerts a case owes, to whom, with what text, and when they may go (DESIGN §3, §5): pure rules.

The worker loads a due case into `CaseFacts` and its people into a `Directory`, and `plan` answers
the alerts to record; nothing here touches the database or the network.

- Light alerts (`reminder` 催办, `yellow`, `red`, `supervision` 督办) belong to one deadline: an
  extension or a reopen gives the new deadline its own, and one about a deadline the case no longer
  has, or a case that closed or resolved, is dropped rather than sent (`still_relevant`).
- `receipt` (告知受理) and `closing` go to a named complainant who left a phone and was not anonymous,
  and to each further complainant of a joined case (`geo.joins`) who did, with their own lookup code.
- An accusation (`report`) never reaches anyone in the accused subtree: the accused unit, any unit
  under it, the accused person (matched by user and by phone) — whatever a record says.
- Quiet hours hold everything but red until they end, in the district's time zone.

`next_alert_at` is what the case write path stores in `cases.next_alert_at`: the first instant the
worker has something to do. Every alert is recorded under a unique key, so a visit that finds
nothing new records nothing: the column may point early (after any write), never late.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from server.calendar.lights import next_alert_at
from server.calendar.workdays import Calendar, working_days_between
from server.cases.domain import OPEN_STATUSES, CaseType, Status

__all__ = [
    "DEFAULT_TEMPLATES",
    "LEVELS",
    "AlertDraft",
    "CaseFacts",
    "Contact",
    "Directory",
    "Level",
    "NotifyConfig",
    "AlertStatus",
    "backoff",
    "channel_of",
    "due_levels",
    "format_deadline",
    "is_told",
    "message_fields",
    "next_alert_at",
    "not_before",
    "plan",
    "quiet_until",
    "render",
    "template",
    "still_relevant",
]

Level = Literal["reminder", "yellow", "red", "supervision", "receipt", "closing"]
LEVELS: tuple[Level, ...] = ("reminder", "yellow", "red", "supervision", "receipt", "closing")
AlertStatus = Literal["pending", "sent", "failed", "dropped"]
# Levels tied to one deadline of the case; the others are about the case as a whole.
_LIGHT_LEVELS: frozenset[str] = frozenset({"reminder", "yellow", "red", "supervision"})
_CLOSED: frozenset[str] = frozenset({"closed", "archived"})

# Chinese by default, as a district's SMS templates are; a district overrides any of them.
DEFAULT_TEMPLATES: dict[str, str] = {
    "reminder": "【{district}】催办：案件{ticket}（{category}，{address}）将于{deadline}到期，"
    "剩余{days_left}个工作日，请抓紧办理。",
    "yellow": "【{district}】黄灯预警：{unit}承办的案件{ticket}（{category}，{address}）将于{deadline}到期，"
    "剩余{days_left}个工作日，请督促按时办结。",
    "red": "【{district}】红灯告警：{unit}承办的案件{ticket}（{category}，{address}）已于{deadline}超期，"
    "已列入督办，请主要领导过问。",
    "supervision": "【{district}】督办通知：案件{ticket}（{category}，{address}）已超过办理期限{deadline}，"
    "现予督办，请{unit}立即办理并反馈。",
    "receipt": "【{district}】您反映的问题已受理，受理编号{ticket}，查询码{lookup_code}，"
    "可凭编号和查询码查询办理进度。",
    "closing": "【{district}】您反映的问题（受理编号{ticket}）已办结，感谢您的监督。",
}
# A case closed without being handled is not "done" (已办结): its closing message says what happened.
# A district overrides them as `closing_refused`, `closing_referred` and `closing_merged`.
CLOSING_BY_DISPOSITION: dict[str, str] = {
    "refused": "【{district}】您反映的问题（受理编号{ticket}）经审查不予受理，原因可凭编号和查询码查询。",
    "referred": "【{district}】您反映的问题（受理编号{ticket}）已转{referred_to}处理。",
    "merged": "【{district}】您反映的问题（受理编号{ticket}）与同一问题的受理编号{merged_into}合并办理，"
    "可凭原查询码查询该编号的进度。",
}
_REFERRED_TO = {
    "110": "公安机关（110）",
    "119": "消防救援（119）",
    "120": "医疗急救（120）",
    "122": "交通管理（122）",
    "discipline": "纪检监察机关",
    "petitions": "信访部门",
}


class NotifyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A district's alert settings (`districts.notify`): every field optional."""

    # Local "HH:MM" start and end of the night; equal times switch quiet hours off.
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    # Per-level overrides of DEFAULT_TEMPLATES, same placeholders.
    templates: dict[str, str] = msgspec.field(default_factory=dict)
    # An apprise URL with `{phone}` (e.g. `aliyunsms://KEY:SECRET@{phone}?sign=…&template=…`): the
    # district's SMS gateway for people with a phone and no URL of their own, complainants included.
    sms_url: str = ""

    def __post_init__(self) -> None:
        for value in (self.quiet_start, self.quiet_end):
            _clock(value)
        unknown = set(self.templates) - set(LEVELS)
        if unknown:
            raise ValueError(f"templates for unknown levels {sorted(unknown)}; levels are {list(LEVELS)}")


def _clock(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a local time HH:MM") from None


class CaseFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules read of a case and its district."""

    id: str
    district_id: int
    district_name: str
    ticket: str
    type: CaseType
    status: Status
    category: str
    address: str
    registered_at: datetime | None
    due_at: datetime | None
    warn_at: datetime | None
    resolved_at: datetime | None
    lead_unit_id: int | None
    assignee_id: int | None
    complainant_name: str
    complainant_phone: str
    anonymous: bool
    accused_unit_ids: frozenset[int] = frozenset()
    accused_user_id: int | None = None
    accused_phone: str = ""
    # The complainant's lookup code for public tracking (`/track`), told in the receipt.
    lookup_code: str = ""
    # Further complainants of a joined case with a name and phone, each told like the first one.
    further: tuple[Contact, ...] = ()
    # How a closed case ended when it was not handled: refused (不予受理) or referred (and to whom).
    disposition: str = ""
    referred_to: str = ""
    merged_into: str = ""


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """One recipient: `key` is unique per person or unit and goes into the alert's unique key."""

    key: str
    role: str
    name: str = ""
    user_id: int | None = None
    unit_id: int | None = None
    phone: str = ""
    urls: tuple[str, ...] = ()
    # A complainant's own lookup code, told in their receipt.
    lookup_code: str = ""


class UnitContacts(msgspec.Struct, frozen=True, kw_only=True):
    unit: Contact
    leader: Contact
    head: Contact


class Directory(msgspec.Struct, frozen=True, kw_only=True):
    units: dict[int, UnitContacts]
    users: dict[int, Contact]


class AlertDraft(msgspec.Struct, frozen=True, kw_only=True):
    case_id: str
    district_id: int
    level: Level
    deadline: datetime | None
    recipient: Contact
    channel: str
    text: str
    not_before: datetime


def due_levels(case: CaseFacts, now: datetime) -> list[tuple[Level, datetime | None]]:
    """The levels owed at `now`, each with the deadline it is about."""
    levels: list[tuple[Level, datetime | None]] = []
    if _has_named_contact(case) or case.further:
        levels.append(("receipt", None))
        if case.status in _CLOSED:
            levels.append(("closing", None))
    if case.status in OPEN_STATUSES and case.resolved_at is None and case.due_at is not None:
        # A case first seen already overdue skips yellow: "time left" would be a stale warning.
        if case.warn_at is not None and case.warn_at <= now < case.due_at:
            levels += [("reminder", case.due_at), ("yellow", case.due_at)]
        if case.due_at <= now:
            levels += [("red", case.due_at), ("supervision", case.due_at)]
    return levels


def is_told(name: str, phone: str, anonymous: bool) -> bool:
    """A complainant gets the receipt and the closing message when named, with a phone, not anonymous."""
    return bool(name.strip() and phone.strip()) and not anonymous


def _has_named_contact(case: CaseFacts) -> bool:
    return is_told(case.complainant_name, case.complainant_phone, case.anonymous)


def _recipients(level: Level, case: CaseFacts, directory: Directory) -> list[Contact]:
    if level in ("receipt", "closing"):
        phone = case.complainant_phone.strip()
        first = Contact(
            key=phone,
            role="complainant",
            name=case.complainant_name,
            phone=phone,
            lookup_code=case.lookup_code,
        )
        return ([first] if _has_named_contact(case) else []) + list(case.further)
    unit = directory.units.get(case.lead_unit_id) if case.lead_unit_id is not None else None
    if unit is None:
        return []
    if level == "yellow":
        return [unit.leader]
    if level == "red":
        return [unit.head]
    if level == "supervision":
        return [unit.unit]
    assignee = directory.users.get(case.assignee_id) if case.assignee_id is not None else None
    return [unit.unit] + ([assignee] if assignee is not None else [])


def _accused(case: CaseFacts, contact: Contact) -> bool:
    """Anyone in the accused subtree (DESIGN §3): by unit, by user, by phone."""
    if case.type != "report":
        return False
    if contact.unit_id is not None and contact.unit_id in case.accused_unit_ids:
        return True
    if contact.user_id is not None and contact.user_id == case.accused_user_id:
        return True
    return bool(case.accused_phone) and _digits(contact.phone) == _digits(case.accused_phone)


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-11:]


def plan(
    case: CaseFacts,
    directory: Directory,
    config: NotifyConfig,
    calendar: Calendar,
    now: datetime,
) -> list[AlertDraft]:
    """Every alert the case owes at `now` (already recorded ones included: the unique key drops them)."""
    drafts = []
    fields = message_fields(case, directory, calendar, now)
    for level, deadline in due_levels(case, now):
        for contact in _recipients(level, case, directory):
            if _accused(case, contact):
                continue
            urls = contact.urls or _sms_urls(config, contact.phone)
            drafts.append(
                AlertDraft(
                    case_id=case.id,
                    district_id=case.district_id,
                    level=level,
                    deadline=deadline,
                    recipient=msgspec.structs.replace(contact, urls=urls),
                    channel=channel_of(urls),
                    text=render(template(config, level, case.disposition), _own(fields, contact)),
                    not_before=not_before(level, now, config, calendar.tz),
                )
            )
    return drafts


def _own(fields: dict[str, str], contact: Contact) -> dict[str, str]:
    """The fields with the recipient's own lookup code, when they have one."""
    return {**fields, "lookup_code": contact.lookup_code} if contact.lookup_code else fields


def _sms_urls(config: NotifyConfig, phone: str) -> tuple[str, ...]:
    phone = phone.strip()
    if not (config.sms_url and phone):
        return ()
    return (config.sms_url.replace("{phone}", re.sub(r"[^\d+]", "", phone)),)


_CHANNELS = {
    "aliyunsms": "sms",
    "tencentsms": "sms",
    "wecombot": "wecom",
    "dingtalk": "dingtalk",
    "mailto": "email",
    "mailtos": "email",
    "json": "webhook",
    "jsons": "webhook",
    "form": "webhook",
    "forms": "webhook",
}


def channel_of(urls: tuple[str, ...]) -> str:
    """`outbox` without a URL, else what the first URL's scheme names (sms, wecom, dingtalk, email…)."""
    if not urls:
        return "outbox"
    scheme = urls[0].split("://", 1)[0].lower()
    return _CHANNELS.get(scheme, scheme[:16])


def message_fields(
    case: CaseFacts, directory: Directory, calendar: Calendar, now: datetime
) -> dict[str, str]:
    """What a template may name: ticket, lookup code, category, address, deadline, days left, lead
    unit, district."""
    days = working_days_between(calendar, now, case.due_at) if case.due_at and case.due_at > now else 0.0
    unit = directory.units.get(case.lead_unit_id) if case.lead_unit_id is not None else None
    return {
        "district": case.district_name,
        "ticket": case.ticket,
        "lookup_code": case.lookup_code,
        "referred_to": _REFERRED_TO.get(case.referred_to, case.referred_to),
        "merged_into": case.merged_into,
        "category": case.category or "其他",
        "address": case.address or "地址不详",
        "deadline": format_deadline(case.due_at, calendar.tz) if case.due_at else "",
        "days_left": f"{days:.1f}".rstrip("0").rstrip("."),
        "unit": unit.unit.name if unit else "",
    }


def template(config: NotifyConfig, level: str, disposition: str = "") -> str:
    if level == "closing" and disposition in CLOSING_BY_DISPOSITION:
        key = f"closing_{disposition}"
        return config.templates.get(key) or CLOSING_BY_DISPOSITION[disposition]
    return config.templates.get(level) or DEFAULT_TEMPLATES[level]


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, fields: dict[str, str]) -> str:
    """`{name}` placeholders only (no attribute or index access, unlike str.format); an unknown
    one is left as written, so a district's typo shows in the message instead of failing it."""
    return _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), template)


def format_deadline(due_at: datetime, tz: str) -> str:
    """A deadline at local midnight closes the day before: `2026-12-04 24:00`, as offices write it."""
    local = due_at.astimezone(ZoneInfo(tz))
    if local.time() == time():
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def quiet_until(at: datetime, config: NotifyConfig, tz: str) -> datetime | None:
    """When the quiet period holding `at` ends, or None if `at` is not in one."""
    start, end = _clock(config.quiet_start), _clock(config.quiet_end)
    if start == end:
        return None
    local = at.astimezone(ZoneInfo(tz))
    now_t = local.time().replace(tzinfo=None)
    inside = start <= now_t < end if start < end else (now_t >= start or now_t < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if now_t >= end and start > end else local.date()
    return datetime.combine(day, end, tzinfo=ZoneInfo(tz)).astimezone(at.tzinfo)


def not_before(level: str, at: datetime, config: NotifyConfig, tz: str) -> datetime:
    """`at`, or the end of the quiet period around it: nothing but red goes out at night."""
    if level == "red":
        return at
    return quiet_until(at, config, tz) or at


def backoff(
    attempts: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> float:
    """Seconds before the next try after `attempts` failed ones: exponential, capped, with ±50 %
    jitter so that workers retrying a gateway that was down do not all come back at once."""
    delay = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return delay * (rng or random).uniform(0.5, 1.5)


def still_relevant(
    level: str, deadline: datetime | None, status: str, due_at: datetime | None, resolved_at: datetime | None
) -> bool:
    """A light alert is about one deadline of an open case; once the case resolves or closes, or its
    deadline moves, the pending ones are dropped. Receipts and closings always stand."""
    if level not in _LIGHT_LEVELS:
        return True
    return status in OPEN_STATUSES and resolved_at is None and due_at == deadline
