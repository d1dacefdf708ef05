"""The demo district `demo` (Riverside District, DESIGN §12): what `make run` serves out of the box.

Units as a tree, one user per role named after it (`admin`, `agent`, `worker1`, `worker2`, `squad1`,
`leader1`, `evaluator1`) and a few more, all with `settings.demo_password`; an Open311 civic app
with the key `gridcase-demo`; the grids of `geo.demo`; about sixty cases in every status, light,
channel and type. Cases go through the real service (`server.cases.register`/`act`) with `now=` in
the past, so deadlines, lights, events and photo checks are exactly what live use would produce:
a case is yellow or red today because it was dispatched long enough ago in working days.

Lights are right on the day of loading; as days pass, greens turn yellow and yellows red, as real
cases would. Loading is deterministic (seeded) and happens once: nothing is done when the district
exists, and a load that fails half-way deletes the district again (every table cascades from it).
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import msgspec
from PIL import Image, ImageDraw, ImageFont
from shapely import wkt as shapely_wkt
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.assign import cell_at, locate
from geo.importer import import_grids
from server.accounts.domain import Actor
from server.accounts.service import actor_for_user
from server.calendar.deadlines import Deadline, TimeLimits, handling_days, plan_deadline
from server.calendar.lights import light
from server.calendar.workdays import Calendar
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import OPEN_STATUSES, Action, CaseType, Channel, Light, Satisfaction, Status, Urgency
from server.cases.intake import register_case
from server.cases.schemas import CaseCreate, Registration
from server.demo.addresses import load_register, register_phone_case
from server.demo.grids import demo_feature_collection
from server.districts.setup import add_unit, add_user, create_district
from server.photos.images import make_thumbnail
from server.photos.storage import PhotoStore, photo_store_from
from server.settings import Settings
from server.tables import ApiKey, Category, District, Grid, Photo, RoutingRule, User

__all__ = ["API_KEY", "DISTRICT_CODE", "USERS", "load_demo", "print_demo", "start_for_light"]

DISTRICT_CODE = "demo"
DISTRICT_NAME = "Riverside District"
API_KEY = "gridcase-demo"

# (code, name, parent code, kind, leader in charge, head)
UNITS: tuple[tuple[str, str, str | None, str, tuple[str, str], tuple[str, str]], ...] = (
    (
        "office",
        "District complaint office",
        None,
        "office",
        ("Zhou Min", "13900010001"),
        ("Qian Lei", "13900010002"),
    ),
    (
        "city-management",
        "City management bureau",
        "office",
        "department",
        ("Sun Hao", "13900020001"),
        ("Wu Jing", "13900020002"),
    ),
    (
        "squad-1",
        "City management squad 1",
        "city-management",
        "squad",
        ("Zheng Kai", "13900021001"),
        ("Wang Bo", "13900021002"),
    ),
    (
        "squad-2",
        "City management squad 2",
        "city-management",
        "squad",
        ("Feng Yu", "13900022001"),
        ("Chen Tao", "13900022002"),
    ),
    (
        "environment",
        "Environment bureau",
        "office",
        "department",
        ("Chu Yan", "13900030001"),
        ("Wei Dong", "13900030002"),
    ),
    (
        "greening",
        "Greening bureau",
        "office",
        "department",
        ("Jiang Li", "13900040001"),
        ("Shen Qi", "13900040002"),
    ),
    (
        "street-1",
        "Riverside West street office",
        "office",
        "street",
        ("Han Mei", "13900050001"),
        ("Yang Fan", "13900050002"),
    ),
    (
        "street-2",
        "Riverside East street office",
        "office",
        "street",
        ("Zhu Ning", "13900060001"),
        ("Qin Yue", "13900060002"),
    ),
)

# (username, display name, role, unit code): the §12 users first, then a few more.
USERS: tuple[tuple[str, str, str, str | None], ...] = (
    ("admin", "Admin Lin", "district_admin", "office"),
    ("agent", "Agent Xu", "agent", "office"),
    ("worker1", "Worker He", "grid_worker", "street-1"),
    ("worker2", "Worker Lu", "grid_worker", "street-2"),
    ("squad1", "Squad Leader Shi", "squad_leader", "squad-1"),
    ("leader1", "Leader Sun", "unit_leader", "city-management"),
    ("evaluator1", "Evaluator Tang", "evaluator", None),
    ("agent2", "Agent Ma", "agent", "office"),
    ("agent3", "Agent Gao", "agent", "office"),
    ("squad2", "Squad Leader Luo", "squad_leader", "squad-2"),
    ("member1", "Member Liang", "squad_member", "squad-1"),
    ("member2", "Member Song", "squad_member", "squad-1"),
    ("member3", "Member Xie", "squad_member", "squad-2"),
)

# How many cases end in each status: 60 in all, every open status with every light for both workers.
_STATUS_COUNTS: dict[Status, int] = {
    "registered": 8,
    "dispatched": 9,
    "accepted": 9,
    "on_site": 9,
    "resolved": 6,
    "reviewed": 5,
    "called_back": 5,
    "closed": 5,
    "archived": 4,
}
# The main path; a case planned to stop at a status takes the actions before it (`_PATH[:_STEPS[status]]`).
_PATH: tuple[Action, ...] = (
    "dispatch",
    "accept",
    "arrive",
    "resolve",
    "review",
    "callback",
    "close",
    "archive",
)
_STEPS = {status: n for n, status in enumerate(_STATUS_COUNTS)}
# Who takes the office's steps; the field steps (accept, arrive, resolve) are the handler's.
_OFFICE_ROLE = {
    "dispatch": "agent",
    "review": "agent",
    "callback": "agent",
    "close": "agent",
    "archive": "admin",
}
_LIGHTS: tuple[Light, ...] = ("green", "yellow", "red")
_CHANNELS: tuple[Channel, ...] = ("phone", "wechat", "web", "app", "letter", "visit", "patrol", "open311")
_TYPES: tuple[CaseType, ...] = ("complaint", "help", "consult", "report", "suggestion")
_SUBJECTS = {
    "city_appearance": ("Street stall on the pavement", "Overflowing rubbish bins", "Fly-posters on walls"),
    "planning": ("Extension built without a permit", "Shop sign over the footpath"),
    "greening": ("Fallen tree branch across the path", "Dead shrubs in the median", "Overgrown hedge"),
    "environment": ("Restaurant fumes at night", "Construction noise after 22:00", "Oil spill in the drain"),
    "municipal": ("Broken street light", "Pothole in the carriageway", "Blocked storm drain"),
    "public_security": ("Bicycles parked across the fire lane", "Broken lock on the community gate"),
    "conduct": ("Inspector asked for a fee", "Office closed during opening hours"),
    "other": ("Stray dogs near the school", "Lost property at the bus stop"),
}
_ROADS = ("Willow", "Lantern", "Orchard", "Harbour", "Mill", "Ferry", "Canal", "Plum Blossom")
_SURNAMES = ("Zhang", "Li", "Wang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu")


class Plan(NamedTuple):
    """One demo case: where its life cycle stops, its light today, where and what it is."""

    number: int
    status: Status
    light: Light
    place: str  # "worker1" / "worker2": a cell of that worker; "street-1" / "street-2": a cell with no worker
    channel: Channel
    type: CaseType
    category: str
    urgency: Urgency
    anonymous: bool


class Cell(NamedTuple):
    id: int
    code: str
    unit_code: str
    worker: str | None
    shape: BaseGeometry


def start_for_light(
    calendar: Calendar,
    limits: TimeLimits,
    days: int,
    wanted: str,
    now: datetime,
    *,
    skip_hours: int = 2,
    within_days: int = 120,
) -> datetime | None:
    """The latest whole hour, at least `skip_hours` before `now`, at which a clock of `days` working
    days must have started for the case to show `wanted` at `now`; None if there is none (a one-day
    yellow window cannot hold a weekend day: the day before it is already red)."""
    anchor = now.replace(minute=0, second=0, microsecond=0)
    for hours in range(skip_hours, within_days * 24):
        start = anchor - timedelta(hours=hours)
        deadline = plan_deadline(calendar, limits, start, days)
        if light(deadline.due_at, deadline.warn_at, now) == wanted:
            return start
    return None


def _plans() -> list[Plan]:
    categories = list(_SUBJECTS)
    plans: list[Plan] = []
    for status, count in _STATUS_COUNTS.items():
        for i in range(count):
            n = len(plans)
            open_case = status in OPEN_STATUSES
            # Open cases alternate between the two workers so each holds every status and light.
            place = ("worker1", "worker2")[i % 2] if open_case or i % 3 else ("street-1", "street-2")[i % 2]
            if status == "registered":
                shade: Light = "green"  # no deadline before dispatch
            else:
                shade = _LIGHTS[i % 3] if open_case else _LIGHTS[(i + 1) % 3]
            plans.append(
                Plan(
                    number=n,
                    status=status,
                    light=shade,
                    place=place,
                    channel=_CHANNELS[n % len(_CHANNELS)],
                    type=_TYPES[n % len(_TYPES)],
                    category=categories[(n * 3) % len(categories)],
                    urgency="urgent" if n % 11 == 5 else "important" if n % 7 == 3 else "normal",
                    # A callback needs someone to call: only cases that stop short of it may be anonymous.
                    anonymous=n % 6 == 4 and status != "called_back",
                )
            )
    return plans


async def load_demo(settings: Settings) -> None:
    """Load the demo district once; a partial load is removed again so the next start retries."""
    if await District.exists().where(District.code == DISTRICT_CODE):
        return
    district_id = await create_district(DISTRICT_CODE, DISTRICT_NAME, timezone="Asia/Shanghai")
    try:
        await _populate(district_id, settings)
    except BaseException:
        await District.delete().where(District.id == district_id)
        raise


async def _populate(district_id: int, settings: Settings) -> None:
    units: dict[str, int] = {}
    for code, name, parent, kind, leader, head in UNITS:
        units[code] = await add_unit(
            district_id,
            code,
            name,
            parent_id=units[parent] if parent else None,
            kind=kind,
            leader=leader,
            head=head,
        )
    for n, (username, name, role, unit) in enumerate(USERS):
        await add_user(
            district_id,
            username,
            name,
            role,
            settings.demo_password,
            unit_id=units[unit] if unit else None,
            phone=f"1390009{n:04d}",
        )
    await ApiKey.insert(
        ApiKey(
            district_id=district_id,
            name="Riverside civic app",
            key_hash=hashlib.sha256(API_KEY.encode()).hexdigest(),
        )
    )
    report = await import_grids(district_id, msgspec.json.encode(demo_feature_collection()))
    if report.errors or not report.committed:
        raise RuntimeError(f"the demo grids did not import: {report.errors}")
    await load_register(district_id)
    loader = _CaseLoader(district_id, units, settings)
    await loader.prepare()
    await _routing_rules(district_id, units, loader.categories)
    for plan in _plans():
        await loader.load(plan)
    await register_phone_case(
        district_id, loader.actors["agent"], loader.categories["municipal"], settings, loader.now
    )


async def _routing_rules(district_id: int, units: dict[str, int], categories: dict[str, int]) -> None:
    """Who handles what where: bureaus district-wide, squads and street offices by street."""
    streets = (
        await Grid.select(Grid.code, Grid.id)
        .where((Grid.district_id == district_id) & (Grid.level == "street"))
        .order_by(Grid.code)
    )
    bureaus = (("environment", "environment"), ("greening", "greening"), ("planning", "city-management"))
    rules = [
        RoutingRule(district_id=district_id, category_id=categories[c], grid_id=None, unit_id=units[u])
        for c, u in bureaus
    ]
    for n, street in enumerate(streets, 1):
        for category in ("city_appearance", "municipal", "public_security", "conduct", "other"):
            unit = f"squad-{n}" if category in ("city_appearance", "municipal") else f"street-{n}"
            rules.append(
                RoutingRule(
                    district_id=district_id,
                    category_id=categories[category],
                    grid_id=street["id"],
                    unit_id=units[unit],
                )
            )
    await RoutingRule.insert(*rules)


class _CaseLoader:
    """Walks each planned case through the real case service at instants in the past."""

    def __init__(self, district_id: int, units: dict[str, int], settings: Settings) -> None:
        self.district_id = district_id
        self.units = units
        self.store: PhotoStore = photo_store_from(kind="local", root=settings.photo_dir)
        self.rng = random.Random(31230121)
        self.now = datetime.now(UTC)
        self.actors: dict[str, Actor] = {}
        self.categories: dict[str, int] = {}
        self.category_days: dict[str, int | None] = {}
        self.cells: dict[str, list[Cell]] = {}

    async def prepare(self) -> None:
        self.calendar = await cases.district_calendar(self.district_id)
        self.limits = await cases.district_limits(self.district_id)
        for row in await User.select().where(User.district_id == self.district_id):
            self.actors[row["username"]] = await actor_for_user(row)
        for row in await Category.select().where(Category.district_id == self.district_id):
            self.categories[row["code"]] = row["id"]
            self.category_days[row["code"]] = row["time_limit_days"]
        rows = await Grid.raw(
            "SELECT g.id, g.code, u.code AS unit_code, ST_AsText(g.geom) AS wkt, min(w.username) AS worker "
            "FROM grids g JOIN units u ON u.id = g.unit_id LEFT JOIN grid_workers gw ON gw.grid_id = g.id "
            "LEFT JOIN app_users w ON w.id = gw.user_id WHERE g.district_id = {} AND g.level = 'cell' "
            "GROUP BY g.id, u.code ORDER BY g.code",
            self.district_id,
        )
        for r in rows:
            cell = Cell(r["id"], r["code"], r["unit_code"], r["worker"], shapely_wkt.loads(r["wkt"]))
            self.cells.setdefault(cell.worker or cell.unit_code, []).append(cell)

    # --- where and who -----------------------------------------------------------------------

    def _point(self, cell: Cell) -> tuple[float, float]:
        """A point well inside the cell (about 40 m off its shared edges), as (lat, lon)."""
        inner = cell.shape.buffer(-0.0004)
        minx, miny, maxx, maxy = inner.bounds
        while True:
            lon, lat = self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)
            if inner.contains(Point(lon, lat)):
                return round(lat, 6), round(lon, 6)

    @staticmethod
    def _lead_unit(plan: Plan, cell: Cell) -> str:
        street = cell.unit_code[-1]
        if plan.type == "report" and plan.category == "conduct":
            return "office"  # the accused greening bureau's superior (seed 002)
        if plan.category in ("city_appearance", "municipal") or cell.worker is None:
            return f"squad-{street}"
        if plan.category in ("environment", "greening"):
            return plan.category
        return cell.unit_code

    @staticmethod
    def _handler(lead: str, cell: Cell, index: int) -> str:
        """Who does the field work: the squad (leader or a member) or the cell's grid worker."""
        if lead == "squad-1":
            return ("squad1", "member1", "member2")[index % 3]
        if lead == "squad-2":
            return ("squad2", "member3")[index % 2]
        return cell.worker or "squad1"

    # --- time --------------------------------------------------------------------------------

    def _days(self, plan: Plan) -> int:
        return handling_days(self.limits, plan.type, plan.urgency, self.category_days[plan.category])

    def _open_start(self, plan: Plan) -> tuple[Plan, datetime]:
        """When to dispatch an open case so that it shows its planned light today."""
        skip = {"green": self.rng.randint(3, 8), "yellow": 3, "red": self.rng.randint(3, 240)}[plan.light]
        start = start_for_light(
            self.calendar, self.limits, self._days(plan), plan.light, self.now, skip_hours=skip
        )
        if start is None:
            # Weekend or holiday: only a long limit (planning, 3-day warning window) can be yellow today.
            plan = plan._replace(type="complaint", category="planning", urgency="normal")
            start = start_for_light(self.calendar, self.limits, self._days(plan), plan.light, self.now)
        if start is None:
            raise RuntimeError(f"no dispatch time gives a {plan.light} light now")
        return plan, start

    def _closed_times(self, plan: Plan) -> dict[str, datetime]:
        """Instants of every step of a case that got past `resolved`, its light set at resolution."""
        start = self.now.replace(minute=0, second=0, microsecond=0) - timedelta(days=self.rng.randint(10, 30))
        while True:
            deadline = plan_deadline(self.calendar, self.limits, start, self._days(plan))
            times = self._timeline(start, deadline, plan.light)
            if max(times.values()) < self.now - timedelta(minutes=30):
                return times
            start -= timedelta(days=7)

    def _timeline(self, start: datetime, deadline: Deadline, shade: str) -> dict[str, datetime]:
        resolve = {
            "green": start + (deadline.warn_at - start) * 0.6,
            "yellow": deadline.warn_at + (deadline.due_at - deadline.warn_at) * 0.5,
            "red": deadline.due_at + timedelta(hours=self.rng.randint(3, 40)),
        }[shade]
        review = resolve + timedelta(hours=3)
        callback = review + timedelta(hours=20)
        close = callback + timedelta(hours=1)
        return {
            "dispatch": start,
            "accept": start + timedelta(minutes=25),
            "arrive": start + timedelta(minutes=90),
            "resolve": resolve,
            "review": review,
            "callback": callback,
            "close": close,
            "archive": close + timedelta(hours=2),
        }

    # --- one case ----------------------------------------------------------------------------

    async def load(self, plan: Plan) -> None:
        cell = self.cells[plan.place][plan.number % len(self.cells[plan.place])]
        if plan.status == "registered":
            times: dict[str, datetime] = {}
            registered = self.now - timedelta(hours=self.rng.randint(1, 30))
        elif plan.status in OPEN_STATUSES:
            plan, start = self._open_start(plan)
            times = {
                "dispatch": start,
                "accept": start + timedelta(minutes=20),
                "arrive": start + timedelta(minutes=70),
            }
            registered = start - timedelta(minutes=self.rng.randint(15, 180))
        else:
            times = self._closed_times(plan)
            registered = times["dispatch"] - timedelta(minutes=self.rng.randint(15, 180))
        case_id, spot = await self._register(plan, cell, registered)
        if plan.type == "consult" and plan.status in ("closed", "archived"):
            await self._answer(case_id, plan, registered)
            return
        lead = self._lead_unit(plan, cell)
        handler = self._handler(lead, cell, plan.number)
        for action in _PATH[: _STEPS[plan.status]]:
            if action == "callback" and plan.anonymous:
                continue  # nobody to call back: the case closes straight from `reviewed`
            payload = await self._payload(action, case_id, plan, lead, handler, times, spot)
            who = handler if action in ("accept", "arrive", "resolve") else _OFFICE_ROLE[action]
            await cases.act(
                case_id,
                lifecycle.Command(action=action, payload=payload),
                self.actors[who],
                now=times[action],
            )

    async def _register(self, plan: Plan, cell: Cell, at: datetime) -> tuple[uuid.UUID, tuple[float, float]]:
        lat, lon = self._point(cell)
        subject = self.rng.choice(_SUBJECTS[plan.category])
        road = f"{self.rng.randint(1, 399)} {self.rng.choice(_ROADS)} Road"
        named = not plan.anonymous
        accusation = plan.type == "report" and plan.category == "conduct"
        body = CaseCreate(
            type=plan.type,
            channel=plan.channel,
            category_id=self.categories[plan.category],
            urgency=plan.urgency,
            title=subject,
            description=f"{subject} near {road}.",
            address=road,
            lat=lat,
            lon=lon,
            anonymous=plan.anonymous,
            complainant_name=f"{self.rng.choice(_SURNAMES)} (citizen)" if named else "",
            complainant_phone=f"13{self.rng.randint(100000000, 999999999)}" if named else "",
            contact_consent=named and plan.number % 4 == 0,
            accused_unit_id=self.units["greening"] if accusation else None,
        )
        placement = await locate(self.district_id, lat, lon)
        if placement is None or placement.grid_id != cell.id:
            raise RuntimeError(f"demo point {lat}, {lon} is not in cell {cell.code}")
        # A patrol case is found and registered on the spot by the cell's worker (or the street's squad).
        finder = (cell.worker or f"squad{cell.unit_code[-1]}") if plan.channel == "patrol" else None
        actor = self.actors[finder or "agent"] if plan.channel != "open311" else None
        reported_by = actor.user_id if finder and actor else None
        who = Registration(district_id=self.district_id, actor=actor, now=at, reported_by=reported_by)
        state = await register_case(body, who, cell_at)
        return state.id, (lat, lon)

    async def _answer(self, case_id: uuid.UUID, plan: Plan, registered: datetime) -> None:
        answer = lifecycle.AnswerPayload(text="Answered on the phone: see the district's service guide.")
        at = registered + timedelta(hours=2)
        await cases.act(
            case_id, lifecycle.Command(action="answer", payload=answer), self.actors["agent"], now=at
        )
        if plan.status == "archived":
            await cases.act(
                case_id, lifecycle.Command(action="archive"), self.actors["admin"], now=at + timedelta(days=1)
            )

    async def _payload(
        self,
        action: str,
        case_id: uuid.UUID,
        plan: Plan,
        lead: str,
        handler: str,
        times: dict[str, datetime],
        spot: tuple[float, float],
    ) -> lifecycle.Payload:
        if action == "dispatch":
            return lifecycle.DispatchPayload(unit_id=self.units[lead])
        if action == "resolve":
            photo_ids = await self._photos(case_id, plan, handler, times, spot)
            return lifecycle.ResolvePayload(photo_ids=photo_ids, note="Handled on site; see the photos.")
        if action == "review":
            return lifecycle.ReviewPayload(approved=True)
        if action == "callback":
            satisfaction: Satisfaction = ("satisfied", "basically_satisfied", "unsatisfied")[plan.number % 3]
            return lifecycle.CallbackPayload(satisfaction=satisfaction, note="Called back.")
        return lifecycle.EmptyPayload()

    # --- photos ------------------------------------------------------------------------------

    async def _photos(
        self,
        case_id: uuid.UUID,
        plan: Plan,
        handler: str,
        times: dict[str, datetime],
        spot: tuple[float, float],
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """A before photo on arrival and its retake just before resolving: same spot, same angle."""
        state = await cases.load_state(case_id)
        assert state is not None, "the demo photographs only cases it registered"
        ticket = state.ticket
        heading = self.rng.uniform(0, 360)
        lat, lon = spot
        jitter = 3e-5  # about 3 m
        shots = (
            ("before", times["arrive"] + timedelta(minutes=5), lat, lon, heading),
            (
                "after",
                times["resolve"] - timedelta(minutes=10),
                lat + self.rng.uniform(-jitter, jitter),
                lon + self.rng.uniform(-jitter, jitter),
                (heading + self.rng.uniform(-8, 8)) % 360,
            ),
        )
        ids: list[uuid.UUID] = []
        for kind, taken, p_lat, p_lon, p_heading in shots:
            data = _scene(ticket, kind, taken, seed=plan.number)
            sha = hashlib.sha256(data).hexdigest()
            await self.store.put(sha, data, len(data), "image/jpeg")
            await self.store.put_thumbnail(sha, make_thumbnail(data))
            photo = Photo(
                id=uuid.uuid4(),
                district_id=self.district_id,
                case_id=case_id,
                kind=kind,
                before_id=ids[0] if ids else None,
                sha256=sha,
                size=len(data),
                content_type="image/jpeg",
                lat=p_lat,
                lon=p_lon,
                accuracy_m=4.0,
                heading=round(p_heading, 1),
                taken_at=taken,
                stored=True,
                uploaded_by_id=self.actors[handler].user_id,
            )
            await Photo.insert(photo)
            ids.append(photo.id)
        return ids[0], ids[1]


def _scene(ticket: str, kind: str, taken: datetime, *, seed: int) -> bytes:
    """A small street scene as a JPEG: the same buildings for both shots, litter only before."""
    rng = random.Random(seed)
    image = Image.new("RGB", (480, 360), (135 + rng.randint(0, 60), 180 + rng.randint(0, 40), 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 230, 480, 360), fill=(120, 120, 115))
    x = 0
    while x < 480:
        width, height = rng.randint(50, 110), rng.randint(90, 200)
        shade = (rng.randint(150, 230), rng.randint(150, 230), rng.randint(150, 230))
        draw.rectangle((x, 230 - height, x + width - 6, 230), fill=shade)
        for wy in range(230 - height + 12, 222, 26):
            draw.rectangle((x + 8, wy, x + 20, wy + 12), fill=(70, 90, 120))
        x += width
    for _ in range(14 if kind == "before" else 0):
        cx, cy = rng.randint(120, 360), rng.randint(250, 340)
        colour = (rng.randint(60, 140), rng.randint(40, 90), rng.randint(20, 60))
        draw.ellipse((cx - 14, cy - 9, cx + 14, cy + 9), fill=colour)
    font = ImageFont.load_default(size=18)
    label = f"{ticket}  {kind.upper()}  {taken.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    draw.rectangle((0, 0, 480, 28), fill=(20, 20, 20))
    draw.text((8, 4), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=78)
    return out.getvalue()


def _user_lines() -> Iterator[str]:
    for username, name, role, unit in USERS:
        yield f"  {username:<11} {role:<15} {name}{f' ({unit})' if unit else ''}"


def print_demo(settings: Settings) -> None:
    """What a visitor needs to try the demo: where it runs, who to log in as, the civic app's key."""
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        f"Gridcase demo: {DISTRICT_NAME} (district code '{DISTRICT_CODE}')",
        f"  URL       {base}",
        f"  API docs  {base}/schema",
        f"Users (password '{settings.demo_password}'):",
        *_user_lines(),
        f"Open311 civic app key: {API_KEY}",
    ]
    print("\n".join(lines))
