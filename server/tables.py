"""Every table of Gridcase, once (DESIGN §2-§7). Piccolo owns them and their migrations.

Piccolo has no geometry type: `grids.geom`, `cases.location`, the sync columns of type `xid8` and
their indexes are added by raw-SQL migrations in `server/piccolo_migrations/`; `geo/` reads and
writes the geometry in SQL text (PostGIS functions) through `server.db.fetch`.
Every table carries its district so the schema can later be distributed by district. Deleting a
district removes everything in it; any other reference refuses the delete (ON DELETE NO ACTION),
so removing a unit, user or grid can never take cases and their history with it.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

__all__ = [
    "Address",
    "Alert",
    "ApiKey",
    "AuthToken",
    "CalendarYearRow",
    "Case",
    "CaseDeparture",
    "CaseEvent",
    "Category",
    "Device",
    "District",
    "Grid",
    "GridWorker",
    "LoginAttempt",
    "Mutation",
    "OutboxMessage",
    "Photo",
    "RoutingRule",
    "TicketCounter",
    "Unit",
    "User",
    "ALL_TABLES",
]


class District(Table, tablename="districts"):
    id = Serial(primary_key=True)
    code = Varchar(length=32, unique=True)
    name = Varchar(length=200)
    timezone = Varchar(length=64, default="Asia/Shanghai")
    calendar_region = Varchar(length=16, default="CN")
    # Per-district overrides of the time limits of DESIGN §5 (server.deadlines.TimeLimits fields).
    time_limits = JSONB(default="{}")
    # Per-district overrides of the same-angle limits of DESIGN §6 (server.photos.same_angle.SameAngleRules).
    same_angle = JSONB(default="{}")
    repeat_radius_m = DoublePrecision(default=100.0)
    repeat_days = Integer(default=30)
    # Alert settings (notify.rules.NotifyConfig fields): quiet hours, message templates, SMS URL.
    notify = JSONB(default="{}")


class Unit(Table, tablename="units"):
    """承办单位: a department, street office or squad; a tree per district."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    parent_id: ForeignKey[Unit] = ForeignKey("self", null=True, index=True, on_delete=OnDelete.no_action)
    code = Varchar(length=64)
    name = Varchar(length=200)
    kind = Varchar(length=32, default="department")
    leader_name = Varchar(length=100, default="")
    leader_phone = Varchar(length=32, default="")
    leader_notify_url = Text(default="")
    head_name = Varchar(length=100, default="")
    head_phone = Varchar(length=32, default="")
    head_notify_url = Text(default="")
    # The unit's own channel (a WeCom or DingTalk group bot, a mailbox): reminders and supervision.
    notify_url = Text(default="")


class User(Table, tablename="app_users"):
    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    username = Varchar(length=64, unique=True)
    name = Varchar(length=100)
    role = Varchar(length=32)
    unit_id = ForeignKey(Unit, null=True, index=True, on_delete=OnDelete.no_action)
    phone = Varchar(length=32, default="")
    password_hash = Text()
    active = Boolean(default=True)
    # apprise URL(s), space-separated, for this person's alerts; none: their phone, else the outbox.
    notify_url = Text(default="")


class AuthToken(Table, tablename="auth_tokens"):
    token_hash = Varchar(length=64, primary_key=True)
    district_id = ForeignKey(District, null=False)
    user_id = ForeignKey(User, null=False, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    # Indexed: each log-in prunes a batch of expired tokens.
    expires_at = Timestamptz(index=True)


class LoginAttempt(Table, tablename="login_attempts"):
    """Log-in failures in a row of one username (`user:…`) or client address (`addr:…`).

    Keyed before any district is known (usernames are unique across districts), so it carries
    none: on a distributed database it would be a reference table.
    """

    key = Varchar(length=128, primary_key=True)
    failures = Integer(default=0)
    # Indexed: each log-in prunes a batch of attempts long past.
    last_at = Timestamptz(default=TimestamptzNow(), index=True)
    locked_until = Timestamptz(null=True, default=None)


class Device(Table, tablename="devices"):
    id = UUID(primary_key=True)
    district_id = ForeignKey(District, null=False)
    user_id = ForeignKey(User, null=False, index=True, on_delete=OnDelete.no_action)
    name = Varchar(length=100)
    platform = Varchar(length=32)
    app_version = Varchar(length=32)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(null=True, default=None)


class Grid(Table, tablename="grids"):
    """A polygon of one of five levels; `geom` (MultiPolygon, 4326) is added in SQL."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    parent_id: ForeignKey[Grid] = ForeignKey("self", null=True, index=True, on_delete=OnDelete.no_action)
    code = Varchar(length=64)
    name = Varchar(length=200)
    level = Varchar(length=16)
    unit_id = ForeignKey(Unit, null=True, on_delete=OnDelete.no_action)
    area_m2 = DoublePrecision(null=True, default=None)


class GridWorker(Table, tablename="grid_workers"):
    district_id = ForeignKey(District, null=False)
    grid_id = ForeignKey(Grid, null=False, index=True)
    user_id = ForeignKey(User, null=False, index=True)


class Category(Table, tablename="categories"):
    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    code = Varchar(length=32)
    name = Varchar(length=100)
    name_zh = Varchar(length=100, default="")
    time_limit_days = Integer(null=True, default=None)
    active = Boolean(default=True)


class RoutingRule(Table, tablename="routing_rules"):
    """Category + grid (any level, or none for the whole district) → lead unit and co-units."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    category_id = ForeignKey(Category, null=False, on_delete=OnDelete.no_action)
    grid_id = ForeignKey(Grid, null=True, on_delete=OnDelete.no_action)
    unit_id = ForeignKey(Unit, null=False, on_delete=OnDelete.no_action)
    co_unit_ids = Array(base_column=Integer(), default=list)


class CalendarYearRow(Table, tablename="calendar_years"):
    """A loaded official working-day schedule of one year (holidays and make-up working days)."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    year = SmallInt()
    holidays = Array(base_column=Date(), default=list)
    workdays = Array(base_column=Date(), default=list)
    source = Text(default="")
    loaded_at = Timestamptz(default=TimestamptzNow())


class TicketCounter(Table, tablename="ticket_counters"):
    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    year = SmallInt()
    last = Integer(default=0)


class Case(Table, tablename="cases"):
    """A citizen's case. `location` (Point, 4326) and the sync column `change_xid` are added in SQL.

    Every change moves `change_xid`, which is indexed, so every index here is written at every
    change: cases keep few of them (district + status, district + change, scope keys, location).
    """

    id = UUID(primary_key=True)
    district_id = ForeignKey(District, null=False)
    ticket = Varchar(length=32)
    channel = Varchar(length=16)
    type = Varchar(length=16)
    category_id = ForeignKey(Category, null=True, on_delete=OnDelete.no_action)
    urgency = Varchar(length=16, default="normal")
    status = Varchar(length=16, default="registered")
    version = Integer(default=1)
    title = Varchar(length=200, default="")
    description = Text(default="")
    address = Text(default="")
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    grid_id = ForeignKey(Grid, null=True, on_delete=OnDelete.no_action)
    lead_unit_id = ForeignKey(Unit, null=True, on_delete=OnDelete.no_action)
    co_unit_ids = Array(base_column=Integer(), default=list)
    assignee_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    complainant_name = Varchar(length=100, default="")
    complainant_phone = Varchar(length=32, default="")
    contact_consent = Boolean(default=False)
    anonymous = Boolean(default=False)
    accused_unit_id = ForeignKey(Unit, null=True, on_delete=OnDelete.no_action)
    accused_user_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    repeat_of = UUID(null=True, default=None)
    created_by_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    registered_at = Timestamptz(default=TimestamptzNow())
    dispatched_at = Timestamptz(null=True, default=None)
    return_by = Timestamptz(null=True, default=None)
    due_at = Timestamptz(null=True, default=None)
    warn_at = Timestamptz(null=True, default=None)
    due_provisional = Boolean(default=False)
    arrive_by = Timestamptz(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    # The rest of the domain state (extension request, counters, satisfaction...) as the
    # server.domain.CaseState Struct encodes it, so the life cycle can grow without migrations.
    state = JSONB(default="{}")
    supervised = Boolean(default=False)
    scope_keys = Array(base_column=Varchar(length=48), default=list, index=True, index_method=IndexMethod.gin)
    updated_at = Timestamptz(default=TimestamptzNow())
    # When the alert worker next has work here (a light change, a receipt or closing message owed):
    # `server.calendar.lights.next_alert_at`, written with every change; partial index (migration 0013).
    next_alert_at = Timestamptz(null=True, default=None)


class CaseEvent(Table, tablename="case_events"):
    """Append-only audit trail: every transition, who, which device, server and client time, GPS."""

    id = UUID(primary_key=True)
    district_id = ForeignKey(District, null=False)
    case_id = ForeignKey(Case, null=False)
    seq = Integer()
    action = Varchar(length=32)
    from_status = Varchar(length=16, null=True, default=None)
    to_status = Varchar(length=16, null=True, default=None)
    actor_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    device_id = ForeignKey(Device, null=True, on_delete=OnDelete.no_action)
    mutation_id = UUID(null=True, default=None)
    at = Timestamptz(default=TimestamptzNow())
    client_time = Timestamptz(null=True, default=None)
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    note = Text(default="")
    data = JSONB(default="{}")


class Photo(Table, tablename="photos"):
    id = UUID(primary_key=True)
    district_id = ForeignKey(District, null=False)
    case_id = ForeignKey(Case, null=True, index=True, on_delete=OnDelete.no_action)
    kind = Varchar(length=16)
    before_id: ForeignKey[Photo] = ForeignKey("self", null=True, on_delete=OnDelete.no_action)
    sha256 = Varchar(length=64, index=True)
    size = Integer()
    content_type = Varchar(length=32)
    lat = DoublePrecision()
    lon = DoublePrecision()
    accuracy_m = DoublePrecision(default=0.0)
    heading = DoublePrecision(null=True, default=None)
    taken_at = Timestamptz()
    stored = Boolean(default=False)
    uploaded_by_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    device_id = ForeignKey(Device, null=True, on_delete=OnDelete.no_action)
    created_at = Timestamptz(default=TimestamptzNow())


class Alert(Table, tablename="alerts"):
    """One message owed about a case, once per (case, level, recipient, deadline) (DESIGN §5, §12).

    Recorded before anything is sent (unique index in SQL, migration 0013), then delivered by the
    worker that holds its lease (`leased_until`, `lease`), retried with backoff until sent or failed.
    """

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    case_id = ForeignKey(Case, null=False, index=True)
    level = Varchar(length=16)
    recipient = Varchar(length=64)
    recipient_role = Varchar(length=16)
    recipient_user_id = ForeignKey(User, null=True, on_delete=OnDelete.no_action)
    unit_id = ForeignKey(Unit, null=True, on_delete=OnDelete.no_action)
    # The deadline the alert is about (null for receipts and closings): a moved deadline gets its own.
    deadline = Timestamptz(null=True, default=None)
    channel = Varchar(length=16, default="outbox")
    urls = Array(base_column=Text(), default=list)
    message = Text()
    status = Varchar(length=16, default="pending")
    attempts = Integer(default=0)
    last_error = Text(default="")
    next_try_at = Timestamptz(default=TimestamptzNow())
    leased_until = Timestamptz(null=True, default=None)
    lease = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class OutboxMessage(Table, tablename="outbox_messages"):
    """A message "sent" while its recipient has no delivery URL: the embedded default (GET /outbox)."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False, index=True)
    alert_id = ForeignKey(Alert, null=False, unique=True, on_delete=OnDelete.no_action)
    recipient = Varchar(length=64)
    text = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class ApiKey(Table, tablename="api_keys"):
    """An Open311 civic app's key."""

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    name = Varchar(length=100)
    key_hash = Varchar(length=64, unique=True)
    active = Boolean(default=True)


class Mutation(Table, tablename="mutations"):
    """A pushed mutation and its stored result: the exactly-once record of DESIGN §7."""

    id = UUID(primary_key=True)
    district_id = ForeignKey(District, null=False)
    device_id = ForeignKey(Device, null=False, on_delete=OnDelete.no_action)
    user_id = ForeignKey(User, null=False, on_delete=OnDelete.no_action)
    case_id = UUID()
    body_hash = Varchar(length=64)
    status = Varchar(length=16)
    result = JSONB()
    created_at = Timestamptz(default=TimestamptzNow())


class CaseDeparture(Table, tablename="case_departures"):
    """A case that left a scope key (reassigned, returned, archived): the source of tombstones.

    Its `change_xid` column (xid8) is added in SQL, like the one on cases.
    """

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    case_id = UUID()
    scope_key = Varchar(length=48)
    at = Timestamptz(default=TimestamptzNow())


class Address(Table, tablename="addresses"):
    """An entry of the address register (地址库): a door plate, a compound or a named place.

    `geom` (Point, 4326), `names` and `plates` (the name tokens and door-plate numbers of `norm`,
    the normalised text, `geo.addresses.normalise`) are added in SQL (0014) with their indexes:
    GiST for nearest-entry lookups, pg_trgm GIN on `names`, GIN on `plates`.
    `key` is what a re-import matches on: the file's id, else the normalised address.
    """

    id = Serial(primary_key=True)
    district_id = ForeignKey(District, null=False)
    key = Varchar(length=200)
    kind = Varchar(length=16)
    road = Varchar(length=100, default="")
    number = Varchar(length=32, default="")
    compound = Varchar(length=100, default="")
    building = Varchar(length=32, default="")
    unit = Varchar(length=32, default="")
    name = Varchar(length=200, default="")
    label = Text()
    norm = Text()
    # The cell the point fell in at import; a grid re-import that removes a cell leaves it NULL.
    grid_id = ForeignKey(Grid, null=True, on_delete=OnDelete.set_null)
    updated_at = Timestamptz(default=TimestamptzNow())


ALL_TABLES: list[type[Table]] = [
    District,
    Unit,
    User,
    AuthToken,
    LoginAttempt,
    Device,
    Grid,
    GridWorker,
    Category,
    RoutingRule,
    CalendarYearRow,
    TicketCounter,
    Case,
    CaseEvent,
    Photo,
    Alert,
    OutboxMessage,
    ApiKey,
    Mutation,
    CaseDeparture,
    Address,
]
