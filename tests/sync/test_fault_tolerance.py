"""Exactly-once pushes and gap-free pulls over a network that loses, repeats and reorders requests.

The real app runs under uvicorn with two worker processes on a loopback port. A hundred simulated
handhelds talk to it through `ChaosProxy`, an HTTP proxy on loopback that (seeded) drops requests
before the server sees them, drops answers after the server committed, sends requests twice, and
delivers some late, after the device's retry has overtaken them. Each device pushes its share of
the mutations in batches, retrying a batch until it gets an answer, and pulls in between. At the
end the database must hold one stored result and one event per mutation, and each device's pulls
must add up to exactly the cases in its scope, at their latest version.

GRIDCASE_FAULT_MUTATIONS (default: the issue's 10,000, about 70 s on a 2-core machine) and
GRIDCASE_FAULT_SEED tune a run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from server.accounts.domain import Actor
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.schemas import CaseCreate, Registration
from server.db import transaction
from server.districts import setup as seed
from server.tables import Case
from tests.support import PASSWORD, add_grid, app_server, square, unique_code

MUTATIONS = int(os.environ.get("GRIDCASE_FAULT_MUTATIONS", "10000"))
SEED = int(os.environ.get("GRIDCASE_FAULT_SEED", "20261123"))
GRID_WORKERS, SQUADS, SQUAD_MEMBERS = 80, 2, 10  # 100 handhelds
OWN_CASES = 4  # dispatched to each handheld's user: accepted, then arrived at, by that device alone
SHARED_CASES = 10  # per squad, unassigned: every member (and the cell's worker) adds notes
CELL = 0.01  # degrees; cells form a 9 x 9 block, the last one has no worker
ORIGIN = (121.40, 31.20)

# Share of /sync requests per fate; `late` answers nothing and delivers the request later.
FATES = {"pass": 60, "drop_request": 10, "drop_response": 10, "duplicate": 10, "late": 10}


# --- the proxy --------------------------------------------------------------------------------


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request or response (head and Content-Length body); None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ConnectionError("connection closed inside a message head") from None
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        assert name != b"transfer-encoding", "the proxy only relays Content-Length bodies"
        if name == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


class ChaosProxy:
    """An HTTP proxy on loopback that mistreats `/sync/` requests according to `FATES`."""

    def __init__(self, upstream_port: int, seed: int) -> None:
        self.upstream_port = upstream_port
        self.rng = random.Random(seed)
        self.fates: Counter[str] = Counter()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._copies: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def settle(self) -> None:
        """Wait until every duplicate and late copy has reached the server (or been lost)."""
        while self._copies:
            await asyncio.gather(*self._copies)

    async def close(self) -> None:
        await self.settle()
        self._server.close()
        await self._server.wait_closed()
        for _, writer in self._idle:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_message(reader)) is not None:
                fate = self._fate(request)
                if fate == "drop_request":
                    break
                if fate in ("late", "duplicate"):
                    # A late copy lands after the device's retry; a duplicate races the original
                    # (delay 0) or follows it after the device may have moved on to its next batch.
                    delay = self.rng.uniform(0.02, 1.0) if fate == "late" or self.rng.random() < 0.5 else 0.0
                    self._send_later(request, delay)
                    if fate == "late":
                        break
                response = await self._forward(request)
                if fate == "drop_response":
                    break
                writer.write(response)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _fate(self, request: bytes) -> str:
        if b" /sync/" not in request[: request.index(b"\r\n")]:
            return "pass"
        fate = self.rng.choices(list(FATES), list(FATES.values()))[0]
        self.fates[fate] += 1
        return fate

    def _send_later(self, request: bytes, delay: float) -> None:
        async def send() -> None:
            await asyncio.sleep(delay)
            try:
                await self._forward(request)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.fates["copy_lost"] += 1

        task = asyncio.create_task(send())
        self._copies.add(task)
        task.add_done_callback(self._copies.discard)

    async def _forward(self, request: bytes) -> bytes:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            writer.write(request)
            await writer.drain()
            response = await read_message(reader)
        except BaseException:
            writer.close()
            raise
        if response is None:
            writer.close()
            raise ConnectionError("the server closed the connection")
        self._idle.append((reader, writer))
        return response


# --- the district -----------------------------------------------------------------------------


class District(msgspec.Struct, kw_only=True):
    id: int
    users: dict[str, int]  # handheld users by username
    cell_of: dict[str, int]  # a grid worker's cell
    squad_of: dict[str, int]  # a squad member's squad
    # Cases only this user's device moves on (accept, then arrive), and cases it only adds notes to.
    own: dict[str, list[str]]
    shared: dict[str, list[str]]
    patrol: dict[str, tuple[float, float]]  # (lon, lat) where the user reports new cases


def cell_origin(index: int) -> tuple[float, float]:
    return ORIGIN[0] + (index % 9) * CELL, ORIGIN[1] + (index // 9) * CELL


def cell_point(index: int, k: int) -> tuple[float, float]:
    """A point well inside cell `index` (lon, lat), a different one for each k < 10."""
    lon, lat = cell_origin(index)
    return lon + CELL * (0.1 + 0.08 * (k * 7 % 10)), lat + CELL * (0.1 + 0.08 * (k * 3 % 10))


async def build_district() -> District:
    """80 grid workers owning a cell each and two squads of 10 members, with dispatched cases in
    their scopes, shared cases several devices note on, and cases outside every handheld's scope
    (an orphan cell, accusations against the cell's own worker)."""
    code = unique_code("F")
    district_id = await seed.create_district(code, f"Fault district {code}")
    office = await seed.add_unit(district_id, "office", "District complaint office")
    street = await seed.add_unit(district_id, "street", "Street office", parent_id=office)
    squads = [
        await seed.add_unit(district_id, f"squad{s}", f"Squad {s}", parent_id=office, kind="squad")
        for s in range(SQUADS)
    ]
    admin_id = await seed.add_user(
        district_id, f"admin-{code}", "Admin", "district_admin", PASSWORD, unit_id=office
    )
    admin = Actor(
        user_id=admin_id,
        role="district_admin",
        district_id=district_id,
        unit_id=office,
        unit_ids=frozenset({office}),
    )
    users = {}
    for i in range(GRID_WORKERS):
        users[f"w{i}-{code}"] = await seed.add_user(
            district_id, f"w{i}-{code}", f"Worker {i}", "grid_worker", PASSWORD, unit_id=street
        )
    squad_of = {}
    for s in range(SQUADS):
        for m in range(SQUAD_MEMBERS):
            name = f"s{s}m{m}-{code}"
            users[name] = await seed.add_user(
                district_id, name, f"Member {s}.{m}", "squad_member", PASSWORD, unit_id=squads[s]
            )
            squad_of[name] = squads[s]
    workers = list(users)[:GRID_WORKERS]
    street_grid = await add_grid(district_id, "street", "street", square(*ORIGIN, 9 * CELL))
    cells = [
        await add_grid(
            district_id,
            f"cell{i:02d}",
            "cell",
            square(*cell_origin(i), CELL),
            parent_id=street_grid,
            unit_id=street,
            worker_ids=(users[workers[i]],) if i < GRID_WORKERS else (),
        )
        for i in range(GRID_WORKERS + 1)
    ]
    category = await seed.add_category(district_id, "fault_test", "Fault test", days=5)

    async def new_case(
        cell: int, k: int, unit: int, assignee: int | None = None, accused: int | None = None
    ) -> str:
        lon, lat = cell_point(cell, k)
        body = CaseCreate(
            type="report" if accused else "complaint",
            description=f"case {k} in cell {cell}",
            category_id=category,
            lat=lat,
            lon=lon,
            accused_user_id=accused,
        )
        who = Registration(district_id=district_id, actor=admin, now=datetime.now(UTC))
        async with transaction():
            state = await cases.register(body, who, cells[cell])
        dispatch = lifecycle.DispatchPayload(unit_id=unit, assignee_id=assignee)
        await cases.act(state.id, lifecycle.Command(action="dispatch", payload=dispatch), admin)
        return str(state.id)

    async def many(*jobs) -> list[str]:
        return list(await asyncio.gather(*jobs))

    own, shared, patrol, cell_of = {}, {}, {}, {}
    shared_in_cell: dict[int, list[str]] = {}
    for s, squad in enumerate(squads):
        cells_of_shared = [(s * 37 + k * 11) % GRID_WORKERS for k in range(SHARED_CASES)]
        shared_ids = await many(*(new_case(c, 6 + s, squad) for c in cells_of_shared))
        for c, case_id in zip(cells_of_shared, shared_ids, strict=True):
            shared_in_cell.setdefault(c, []).append(case_id)
        for m in range(SQUAD_MEMBERS):
            name = f"s{s}m{m}-{code}"
            cell = (s * SQUAD_MEMBERS + m) * 3 % GRID_WORKERS  # the cell's worker sees these too
            own[name] = await many(
                *(new_case(cell, 8 + k % 2, squad, assignee=users[name]) for k in range(OWN_CASES))
            )
            shared[name] = shared_ids
            patrol[name] = cell_point(cell, 9)
    for i, name in enumerate(workers):
        own[name] = await many(*(new_case(i, k, street) for k in range(OWN_CASES)))
        shared[name] = shared_in_cell.get(i, [])
        patrol[name] = cell_point(i, 5)
        cell_of[name] = cells[i]
    await many(
        *(new_case(GRID_WORKERS, k, street) for k in range(10)),
        # An accusation is led by a unit above the accused one's (seed 002): the office.
        *(new_case(i, 4, office, accused=users[workers[i]]) for i in range(0, GRID_WORKERS, 8)),
    )
    return District(
        id=district_id, users=users, cell_of=cell_of, squad_of=squad_of, own=own, shared=shared, patrol=patrol
    )


def plan_for(name: str, district: District, count: int, rng: random.Random) -> list[dict]:
    """`count` mutations in a random order that keeps each case's accept before its arrive and the
    patrol report before the note on the case it reports."""
    report_case = str(uuid.uuid4())
    lon, lat = district.patrol[name]
    report = {
        "category": "fault_test",
        "type": "complaint",
        "description": f"found by {name}",
        "lat": lat,
        "lon": lon,
    }
    streams = [[("accept", c, {}), ("arrive", c, {})] for c in district.own[name]]
    streams.append([("report", report_case, report), ("note", report_case, {"text": "photos follow"})])
    for n in range(count - sum(map(len, streams))):
        shared = district.shared[name]
        target = rng.choice(shared if shared and rng.random() < 0.3 else district.own[name])
        streams.append([("note", target, {"text": f"note {n} from {name}"})])
    tags = [i for i, stream in enumerate(streams) for _ in stream]
    rng.shuffle(tags)
    cursors = [iter(stream) for stream in streams]
    return [
        {"id": str(uuid.uuid4()), "action": action, "case_id": case_id, "payload": payload}
        for action, case_id, payload in (next(cursors[i]) for i in tags)
    ][:count]


# --- the handhelds ----------------------------------------------------------------------------


class Handheld:
    """A phone that retries each request until it gets an answer, keeps its cursor and its copy of
    the scope from pulls only, and takes base versions from whatever it last saw."""

    def __init__(
        self, name: str, http: httpx.AsyncClient, token: str, device_id: str, rng: random.Random
    ) -> None:
        self.name = name
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.device_id = device_id
        self.rng = rng
        self.cursor: str | None = None
        self.copy: dict[str, dict] = {}
        self.received: set[str] = set()
        self.tombstones: list[str] = []
        self.known: dict[str, int] = {}
        self.answers: dict[str, str] = {}
        self.failures: Counter[str] = Counter()

    async def _post(self, path: str, body: dict) -> dict:
        content = msgspec.json.encode(body)  # a retry sends the very same bytes
        while True:
            try:
                r = await self.http.post(path, content=content, headers=self.headers)
            except httpx.TransportError:
                self.failures["no answer"] += 1
            else:
                if r.status_code < 500:
                    assert r.status_code == 200, r.text
                    return msgspec.json.decode(r.content)
                self.failures[f"{r.status_code}: {r.text[:200]}"] += 1
            await asyncio.sleep(self.rng.uniform(0.005, 0.05))

    def _see(self, case: dict) -> None:
        self.known[case["id"]] = max(self.known.get(case["id"], 0), case["version"])

    async def pull(self) -> None:
        while True:
            request = {"device_id": self.device_id, "cursor": self.cursor, "limit": 40}
            body = await self._post("/sync/pull", request)
            for case in body["cases"]:
                self.received.add(case["id"])
                if case["version"] >= self.copy.get(case["id"], {"version": 0})["version"]:
                    self.copy[case["id"]] = case
                self._see(case)
            for case_id in body["tombstones"]:
                self.tombstones.append(case_id)
                self.copy.pop(case_id, None)
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return

    async def push(self, intents: list[dict]) -> None:
        mutations = [
            {
                **m,
                "base_version": 0 if m["action"] == "report" else self.known.get(m["case_id"], 0),
                "client_time": datetime.now(UTC).isoformat(),
                "gps": {"lat": 31.2, "lon": 121.4, "accuracy": 8},
            }
            for m in intents
        ]
        body = await self._post("/sync/push", {"device_id": self.device_id, "mutations": mutations})
        assert [r["id"] for r in body["results"]] == [m["id"] for m in mutations]
        for result in body["results"]:
            self.answers[result["id"]] = result["status"]
            if result.get("case"):
                self._see(result["case"])

    async def run(self, plan: list[dict]) -> None:
        await self.pull()
        done = 0
        while done < len(plan):
            if self.rng.random() < 0.3:
                await self.pull()
            size = self.rng.randint(1, 20)
            await self.push(plan[done : done + size])
            done += size


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
def live_server(tmp_path: Path):
    """The app with two worker processes (copies of one request may race in different processes);
    yields (port, log path)."""
    with app_server(tmp_path, workers=2) as port:
        yield port, tmp_path / "server.log"


async def _sign_in(http: httpx.AsyncClient, username: str) -> tuple[str, str]:
    r = await http.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    r = await http.post(
        "/devices",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": f"{username}'s phone", "platform": "android", "app_version": "2.0"},
    )
    assert r.status_code == 201, r.text
    return token, r.json()["device_id"]


@pytest.mark.usefixtures("client")  # the test's own database pool, for setting up and checking
async def test_every_mutation_takes_effect_once_and_pulls_see_exactly_the_scope(live_server, caplog):
    port, log_path = live_server
    caplog.set_level(logging.WARNING, logger="httpx")  # a log line per request would cost the devices
    started = time.monotonic()
    district = await build_district()
    built = time.monotonic()
    rng = random.Random(SEED)
    names = list(district.users)
    plans = {
        name: plan_for(name, district, MUTATIONS // len(names) + (i < MUTATIONS % len(names)), rng)
        for i, name in enumerate(names)
    }
    proxy = ChaosProxy(port, SEED)
    limits = httpx.Limits(max_connections=len(names) * 2, max_keepalive_connections=len(names) * 2)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as direct:
        signed = await asyncio.gather(*(_sign_in(direct, name) for name in names))
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{await proxy.start()}", timeout=120, limits=limits
    ) as http:
        devices = {
            name: Handheld(name, http, token, device_id, random.Random(f"{SEED}-{name}"))
            for name, (token, device_id) in zip(names, signed, strict=True)
        }
        storm = time.monotonic()
        await asyncio.gather(*(devices[name].run(plans[name]) for name in names))
        await proxy.settle()
        stormed = time.monotonic()
        # The final pull continues from each device's cursor, through the same faulty network.
        await asyncio.gather(*(device.pull() for device in devices.values()))
        await proxy.close()
    failures = sum((d.failures for d in devices.values()), Counter())
    answers = {mid: status for d in devices.values() for mid, status in d.answers.items()}
    print(
        f"\n{MUTATIONS} mutations by {len(names)} devices: setup {built - started:.1f} s, "
        f"storm {stormed - storm:.1f} s ({MUTATIONS / (stormed - storm):.0f} mutations/s), "
        f"final pulls {time.monotonic() - stormed:.1f} s; proxy {dict(proxy.fates)}; device failures "
        f"{dict(failures)}; answers {dict(Counter(answers.values()))}"
    )
    assert not [f for f in failures if f != "no answer"], f"the server failed requests: {failures}"

    # The devices' side: every mutation was answered, as applied or as a replay of its stored result.
    sent = {m["id"]: name for name, plan in plans.items() for m in plan}
    assert len(sent) == MUTATIONS
    assert set(answers) == set(sent)
    assert set(answers.values()) <= {"applied", "duplicate"}, Counter(answers.values())

    # The database: one stored result per mutation, applied, and one event for each.
    stored = await Case.raw(
        "SELECT id::text AS id, status, device_id::text AS device_id FROM mutations WHERE district_id = {}",
        district.id,
    )
    assert sorted(r["id"] for r in stored) == sorted(sent)
    assert Counter(r["status"] for r in stored) == {"applied": MUTATIONS}
    assert all(r["device_id"] == devices[sent[r["id"]]].device_id for r in stored)
    events = await Case.raw(
        "SELECT case_id::text AS case_id, id::text AS id, mutation_id::text AS "
        "mutation_id, device_id FROM case_events WHERE district_id = {} "
        "ORDER BY case_id, seq",
        district.id,
    )
    by_mutation = Counter(e["mutation_id"] for e in events if e["mutation_id"] is not None)
    # Each mutation made exactly one event, and no event names a mutation that was not stored.
    assert by_mutation == Counter(list(sent))
    assert all(e["mutation_id"] is not None for e in events if e["device_id"] is not None)
    events_of: dict[str, list[str]] = {}
    for e in events:
        events_of.setdefault(e["case_id"], []).append(e["id"])
    versions = {
        r["id"]: r["version"]
        for r in await Case.raw(
            "SELECT id::text AS id, version FROM cases WHERE district_id = {}", district.id
        )
    }
    assert all(len(events_of[c]) == v for c, v in versions.items()), "one event per version"

    # Each device's pulls, together: the latest version of every case in its scope, nothing else.
    reports = {name: [m["case_id"] for m in plan if m["action"] == "report"] for name, plan in plans.items()}
    for name, device in devices.items():
        if name in district.cell_of:
            rows = await Case.raw(
                "SELECT id::text AS id FROM cases WHERE district_id = {} AND grid_id = {} "
                "AND accused_user_id IS DISTINCT FROM {}",
                district.id,
                district.cell_of[name],
                district.users[name],
            )
        else:
            rows = await Case.raw(
                "SELECT id::text AS id FROM cases WHERE district_id = {} "
                "AND (lead_unit_id = {} OR id = ANY({}::uuid[]))",
                district.id,
                district.squad_of[name],
                reports[name],
            )
        scope = {r["id"] for r in rows}
        assert set(district.own[name]) <= scope
        assert device.received <= scope, f"{name} received cases outside its scope"
        assert device.tombstones == [], "no case left a scope in this run"
        latest = {c: versions[c] for c in scope}
        assert {c: case["version"] for c, case in device.copy.items()} == latest, name
        # A view carries the last VIEW_EVENTS events of the timeline and says how many there are.
        assert all(
            [e["id"] for e in case["events"]] == events_of[c][-cases.VIEW_EVENTS :]
            and case["events_total"] == len(events_of[c])
            for c, case in device.copy.items()
        ), name
    assert "Traceback" not in log_path.read_text()
