"""The morning storm of a district's handhelds against the sync API, driven by wrk (DESIGN §7, §11).

Run: `.venv/bin/python bench/sync_storm.py` (BENCH_DATABASE_URL if set, else a throwaway private
cluster); `--devices 200 --cases 4000 --seconds 5` for a quick run. A district of 2,000 grid
workers, each with one handheld and one cell, and 40,000 dispatched cases spread over the cells is
bulk-loaded in SQL (cases and their events cloned from one case made by the real code path). The
app runs in 2 uvicorn processes on one SO_REUSEPORT port (`serve_one` says why); wrk (1 thread,
Lua script `sync_storm.lua`) rotates over the devices' tokens and bodies:

1. first pull: every device pulls its scope once (cursor null);
2. empty re-pull: devices pull again with the cursor they got, for `--seconds`;
3. healthy verify: devices send the 16 checksums of the copy they pulled, for `--seconds`: every
   answer must be `ok` with no case (DESIGN §7: it should cost no more than an empty re-pull);
4. push: each device pushes one batch of 20 mutations (accept/arrive on its cases, notes), once;
5. replay: the applied batches are sent again, for `--seconds`: every answer must be `duplicate`.

Prints pulls/s, verifies/s, p50/p99 latency, mutations/s, replays/s, the CPU the server processes
and PostgreSQL spent per pull, verify or mutation, and EXPLAIN (ANALYZE, BUFFERS) of the queries the
server's own code builds for an empty re-pull (custom and generic plan), a healthy verify and a
replay lookup. Goal on a 2-core machine: an empty re-pull reads one index range, a healthy verify
costs no more, a replay costs one lookup per mutation, and 1,000+ mutations/s are applied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import msgspec  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from server.db import migrate, transaction  # noqa: E402
from server.embedded.cluster import free_port, private_cluster  # noqa: E402

LUA = Path(__file__).with_name("sync_storm.lua")
CELL_DEG = 0.002
WEST, SOUTH = 121.30, 31.10
console = Console(width=170)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--devices", type=int, default=2000, help="grid workers, each with a handheld and a cell"
    )
    parser.add_argument("--cases", type=int, default=40000, help="open cases, spread evenly over the cells")
    parser.add_argument("--batch", type=int, default=20, help="mutations per push")
    parser.add_argument("--seconds", type=int, default=10, help="length of the re-pull and replay phases")
    parser.add_argument("--push-seconds", type=int, default=60, help="at most this long for the push phase")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--serve-on", type=int, help=argparse.SUPPRESS)  # one server process, on this port
    return parser.parse_args()


# --- loading the district -----------------------------------------------------------------------


class District(msgspec.Struct, kw_only=True):
    id: int
    # Per device, in cell order: (token, device id, the device's case ids).
    devices: list[tuple[str, str, list[str]]]
    case_version: int


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


async def _template_case(
    district_id: int, admin_id: int, unit_id: int, grid_id: int, category_id: int
) -> uuid.UUID:
    """One dispatched case made by the real code path; the others are its clones."""
    from server.accounts.domain import Actor
    from server.cases import lifecycle
    from server.cases import service as cases
    from server.cases.schemas import CaseCreate, Registration

    actor = Actor(user_id=admin_id, role="district_admin", district_id=district_id, unit_id=unit_id)
    body = CaseCreate(
        type="complaint",
        description="Overflowing bin",
        category_id=category_id,
        lat=SOUTH + CELL_DEG / 2,
        lon=WEST + CELL_DEG / 2,
        complainant_phone="13812345678",
    )
    who = Registration(district_id=district_id, actor=actor, now=datetime.now(UTC))
    async with transaction():
        state = await cases.register(body, who, grid_id)
    dispatch = lifecycle.Command(action="dispatch", payload=lifecycle.DispatchPayload(unit_id=unit_id))
    await cases.act(state.id, dispatch, actor)
    return state.id


async def load_district(url: str, devices: int, total_cases: int) -> District:
    from server.accounts.service import hash_password
    from server.districts import setup as seed

    code = f"storm-{secrets.token_hex(3)}"
    district_id = await seed.create_district(code, "Storm district")
    office = await seed.add_unit(district_id, "office", "District complaint office")
    street = await seed.add_unit(district_id, "street", "Street office", parent_id=office)
    admin_id = await seed.add_user(
        district_id, f"admin-{code}", "Admin", "district_admin", secrets.token_hex(8), unit_id=office
    )
    category_id = await seed.add_category(district_id, "storm", "Storm", days=5)
    cols = max(1, round(devices**0.5))
    conn = await asyncpg.connect(url)
    try:
        with Progress(console=console, transient=False) as progress:
            step = progress.add_task("cells, users, devices, tokens", total=5)
            await conn.execute(
                "INSERT INTO grids (district_id, code, name, level, unit_id, geom) "
                "SELECT $1, format('cell-%s', lpad(i::text, 5, '0')), format('Cell %s', i), 'cell', $2, "
                "ST_Multi(ST_MakeEnvelope($3 + (i % $5) * $4, $6 + (i / $5) * $4, "
                "$3 + (i % $5 + 1) * $4, $6 + (i / $5 + 1) * $4, 4326)) FROM generate_series(0, $7 - 1) i",
                district_id,
                street,
                WEST,
                CELL_DEG,
                cols,
                SOUTH,
                devices,
            )
            cells = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM grids WHERE district_id = $1 AND level = 'cell' ORDER BY code",
                    district_id,
                )
            ]
            progress.advance(step)
            # One password hash for all: nobody logs in, tokens are stored directly below.
            password = hash_password(secrets.token_hex(8))
            await conn.copy_records_to_table(
                "app_users",
                columns=[
                    "district_id",
                    "username",
                    "name",
                    "role",
                    "unit_id",
                    "phone",
                    "password_hash",
                    "active",
                ],
                records=[
                    (district_id, f"w{i}-{code}", f"Worker {i}", "grid_worker", street, "", password, True)
                    for i in range(devices)
                ],
            )
            users = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM app_users WHERE district_id = $1 AND role = 'grid_worker' ORDER BY id",
                    district_id,
                )
            ]
            progress.advance(step)
            await conn.copy_records_to_table(
                "grid_workers",
                columns=["district_id", "grid_id", "user_id"],
                records=[(district_id, g, u) for g, u in zip(cells, users, strict=True)],
            )
            progress.advance(step)
            now = datetime.now(UTC)
            device_ids = [uuid.uuid4() for _ in users]
            await conn.copy_records_to_table(
                "devices",
                columns=["id", "district_id", "user_id", "name", "platform", "app_version", "created_at"],
                records=[
                    (d, district_id, u, "handheld", "android", "2.0", now)
                    for d, u in zip(device_ids, users, strict=True)
                ],
            )
            progress.advance(step)
            tokens = [secrets.token_urlsafe(32) for _ in users]
            # Stored as server.auth stores them: the SHA-256 of the token.
            await conn.copy_records_to_table(
                "auth_tokens",
                columns=["token_hash", "district_id", "user_id", "created_at", "expires_at"],
                records=[
                    (hashlib.sha256(t.encode()).hexdigest(), district_id, u, now, now + timedelta(days=1))
                    for t, u in zip(tokens, users, strict=True)
                ],
            )
            progress.advance(step)

            template = await _template_case(district_id, admin_id, street, cells[0], category_id)
            await _clone_cases(conn, progress, district_id, template, total_cases)
            step = progress.add_task("vacuum, analyze", total=1)
            for table in (
                "cases",
                "case_events",
                "app_users",
                "devices",
                "auth_tokens",
                "grid_workers",
                "grids",
            ):
                await conn.execute(f"VACUUM ANALYZE {table}")
            progress.advance(step)
        version = await conn.fetchval("SELECT max(version) FROM cases WHERE district_id = $1", district_id)
        by_cell: dict[int, list[str]] = {g: [] for g in cells}
        for r in await conn.fetch(
            "SELECT id::text AS id, grid_id FROM cases WHERE district_id = $1 ORDER BY id", district_id
        ):
            by_cell[r["grid_id"]].append(r["id"])
    finally:
        await conn.close()
    devices_by_cell = zip(tokens, device_ids, cells, strict=True)
    return District(
        id=district_id, case_version=version, devices=[(t, str(d), by_cell[g]) for t, d, g in devices_by_cell]
    )


async def _clone_cases(
    conn: asyncpg.Connection, progress: Progress, district_id: int, template: uuid.UUID, total: int
) -> None:
    """Copies of the template case (row and events), case n in cell n mod cells, in chunks."""
    case_columns = [c for c in await _columns(conn, "cases") if c != "change_xid"]  # the trigger stamps it
    # Case k of a cell sits on a 10 x 10 lattice inside it.
    lon = "ST_XMin(cell.geom) + ((n / c.count) % 10 + 0.5) * $4::float8 / 10"
    lat = "ST_YMin(cell.geom) + ((n / c.count / 10) % 10 + 0.5) * $4::float8 / 10"
    own = {
        "id": "gen_random_uuid()",
        # The template keeps number 1 until it is deleted.
        "ticket": "format('%s-%s', split_part(t.ticket, '-', 1), lpad((n + 2)::text, 6, '0'))",
        "grid_id": "cell.id",
        "lon": lon,
        "lat": lat,
        "location": f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)",
        "scope_keys": "array_replace(t.scope_keys, 'grid:' || t.grid_id, 'grid:' || cell.id)",
    }
    event_columns = await _columns(conn, "case_events")
    event_own = {"id": "gen_random_uuid()", "case_id": "new.id", "district_id": "new.district_id"}
    clone = f"""
        WITH c AS (
            SELECT array_agg(id ORDER BY code) AS ids, count(*)::int AS count FROM grids
            WHERE district_id = $1 AND level = 'cell'
        ), new AS (
            INSERT INTO cases ({", ".join(case_columns)})
            SELECT {", ".join(own.get(col, f"t.{col}") for col in case_columns)}
            FROM cases t, c, generate_series($2::int, $3::int - 1) n, grids cell
            WHERE t.id = $5 AND cell.id = c.ids[n % c.count + 1]
            RETURNING id, district_id
        )
        INSERT INTO case_events ({", ".join(event_columns)})
        SELECT {", ".join(event_own.get(col, f"e.{col}") for col in event_columns)}
        FROM new, case_events e WHERE e.case_id = $5
    """
    chunk = 2000
    step = progress.add_task("cases and their events", total=total)
    # A transaction per chunk, so that the cases carry different change stamps, as they would.
    for start in range(0, total, chunk):
        end = min(total, start + chunk)
        await conn.execute(clone, district_id, start, end, CELL_DEG, template)
        progress.update(step, completed=end)
    async with conn.transaction():
        await conn.execute("DELETE FROM case_events WHERE case_id = $1", template)
        await conn.execute("DELETE FROM cases WHERE id = $1", template)
        await conn.execute(
            "UPDATE ticket_counters SET last = $2 WHERE district_id = $1", district_id, total + 1
        )


# --- the server and wrk -------------------------------------------------------------------------


def serve_one(port: int) -> None:
    """One server process: the app under uvicorn on its own SO_REUSEPORT socket.

    `uvicorn --workers N` shares one listening socket, and asyncio accepts up to 100 waiting
    connections at each wake-up: the first worker to wake takes all of wrk's keep-alive connections
    and keeps them (measured: one worker at 93 % CPU, the other at 13 %). With a socket per process
    and SO_REUSEPORT, the kernel spreads the connections over the processes.
    """
    import socket

    import uvicorn
    from litestar import post

    from server.app import create_app

    @post("/bench/noop", status_code=200, include_in_schema=False)
    async def noop() -> dict[str, bool]:
        """The yardstick: the same app, request and headers, no work."""
        return {"ok": True}

    app = create_app()
    app.register(noop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    # As `gridcase run` serves; asyncio + h11 would stall each keep-alive request ~44 ms (STACK.md).
    config = uvicorn.Config(app, log_level="warning", loop="uvloop", http="httptools")
    server = uvicorn.Server(config)

    async def run() -> None:
        config.load()
        loop = type(asyncio.get_running_loop())
        parser = config.http_protocol_class
        # Told from inside the running server, so the figures say what they measured.
        print(f"{SERVED_ON} {loop.__module__}.{loop.__qualname__}, parser {parser.__module__}", flush=True)
        await server.serve(sockets=[sock])

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(run())


SERVED_ON = "served on loop"


def _served_on(log_path: Path) -> str:
    """What the server processes said they run on, once each kind."""
    said = {line for line in log_path.read_text().splitlines() if line.startswith(SERVED_ON)}
    return "; ".join(sorted(said)) or "(the servers did not say)"


@contextlib.contextmanager
def serve(url: str, workdir: Path, processes: int) -> Iterator[tuple[int, list[int], str]]:
    """`processes` servers (`serve_one`) sharing a free loopback port; yields it, their pids and the
    event loop and HTTP parser they run on."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "GRIDCASE_PHOTO_DIR": str(workdir / "photos")}
    # The alert worker's first pass over a freshly loaded district (bench/alert_scan.py measures
    # it) would otherwise run inside the servers during the phases and be counted as sync cost.
    env["GRIDCASE_ALERT_WORKER"] = "0"
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        servers = [
            subprocess.Popen(
                [sys.executable, __file__, "--serve-on", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(processes)
        ]
    try:
        deadline = time.monotonic() + 60
        # Every process must listen before wrk connects, or the first ones get all the connections.
        while _listeners(port) < processes or not _answers(port):
            if any(s.poll() is not None for s in servers) or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield port, [s.pid for s in servers], _served_on(log_path)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if "Traceback" in log_path.read_text():
            console.print(f"[red]the server logged errors:[/red]\n{log_path.read_text()[-3000:]}")


def _listeners(port: int) -> int:
    """Sockets listening on this loopback port (state 0A in /proc/net/tcp)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")


class CpuMeter:
    """CPU seconds spent during a phase by the server processes and by the database's backends."""

    def __init__(self, url: str, server_pids: list[int]) -> None:
        self.url = url
        self.server_pids = server_pids
        self.server = self.postgres = 0.0

    async def _backends(self) -> list[int]:
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return [r["pid"] for r in rows]

    async def __aenter__(self) -> CpuMeter:
        self._before = {pid: _cpu(pid) for pid in [*self.server_pids, *await self._backends()]}
        return self

    async def __aexit__(self, *exc: object) -> None:
        def spent(pids: list[int]) -> float:
            return sum(_cpu(pid) - self._before.get(pid, 0.0) for pid in pids)

        self.server = spent(self.server_pids)
        self.postgres = spent(await self._backends())


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("installing wrk (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)
    return shutil.which("wrk") or sys.exit("wrk did not install")


class Phase(msgspec.Struct):
    """What sync_storm.lua's done() prints, plus the phase's name and how many items a request carries."""

    answered: int
    failed: int  # answers other than 200 (and the fillers' 404)
    duration_us: int
    p50_us: int
    p99_us: int
    max_us: int
    cases: int
    socket_errors: int
    statuses: dict[str, int]
    name: str = ""
    per_request: int = 1
    server_cpu: float = 0.0  # seconds
    postgres_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.answered * self.per_request / (self.duration_us / 1e6)


def run_wrk(
    wrk: str,
    port: int,
    path: str,
    lines: list[tuple[str, dict]],
    *,
    name: str,
    once: bool,
    seconds: int,
    connections: int,
    workdir: Path,
    per_request: int = 1,
    capture: Path | None = None,
) -> Phase:
    data = workdir / f"{name.replace(' ', '_')}.tsv"
    with data.open("wb") as f:
        for token, body in lines:
            f.write(token.encode() + b"\t" + msgspec.json.encode(body) + b"\n")
    finished = workdir / f"{data.stem}.done"
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{path}",
        "--",
        str(data),
        "once" if once else "loop",
        str(capture or "-"),
        str(finished),
    ]
    with console.status(f"{name}: wrk {' '.join(command[1:5])} …"):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while process.poll() is None and not finished.exists():
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed:\n{out}\n{err}")
    summary = next(line for line in out.splitlines() if line.startswith("{"))
    return msgspec.convert({**json.loads(summary), "name": name, "per_request": per_request}, Phase)


# --- the query plans ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def recorded_queries():
    """Every SQL statement (with its arguments) the server's code sends while the block runs, taken
    where Piccolo and the raw-SQL helpers all end up: asyncpg's `Connection.fetch`."""
    original = asyncpg.Connection.fetch
    seen: list[tuple[str, tuple]] = []

    async def record(connection, query, *args, **kwargs):
        seen.append((query, args))
        return await original(connection, query, *args, **kwargs)

    asyncpg.Connection.fetch = record
    try:
        yield seen
    finally:
        asyncpg.Connection.fetch = original


async def explain(url: str, sql: str, args: tuple, *, generic: bool = False) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) with these arguments; `generic`: the plan PostgreSQL switches a
    prepared statement (asyncpg prepares every query) to when it is no dearer than the custom ones."""
    conn = await asyncpg.connect(url)
    try:
        if generic:
            await conn.execute(f"PREPARE probe AS {sql}")
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            # EXECUTE takes no bind parameters: spell the arguments as literals of the statement's types.
            types = await conn.fetchval(
                "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'probe'"
            )
            literals = [
                await conn.fetchval(f"SELECT quote_nullable($1::{t}::text)", arg)
                for t, arg in zip(types, args, strict=True)
            ]
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE probe({', '.join(literals)})")
        else:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


async def _actor(token: str):
    from server.accounts.service import actor_for_user
    from server.tables import AuthToken, User

    row = (
        await AuthToken.select(AuthToken.user_id)
        .where(AuthToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    return await actor_for_user(await User.select().where(User.id == row["user_id"]).first())


async def empty_repull_plans(url: str, token: str, cursor: str) -> list[tuple[str, str]]:
    """Run sync.pull.pull as the server would for this device's empty re-pull, and explain its queries."""
    from server.settings import get_settings
    from sync.pull import pull
    from sync.secret import cursor_key

    actor = await _actor(token)
    async with recorded_queries() as seen:
        answer = await pull(actor, cursor, 100, cursor_key(get_settings()))
    assert not answer.cases and not answer.has_more, "the re-pull was expected to be empty"
    plans = []
    for sql, args in seen:
        if "change_xid" in sql:
            plans.append((sql, await explain(url, sql, args)))
            plans.append(("the same, generic plan", await explain(url, sql, args, generic=True)))
    return plans


async def verify_plans(url: str, token: str, buckets: list[str]) -> list[tuple[str, str]]:
    """Run sync.verify.verify for a healthy copy, and explain its one query."""
    from sync.verify import verify

    actor = await _actor(token)
    async with recorded_queries() as seen:
        answer = await verify(actor, buckets)
    assert answer.ok, "the verify was expected to find the copy healthy"
    return [(sql, await explain(url, sql, args)) for sql, args in seen]


def healthy_copies(district: District) -> list[tuple[str, dict]]:
    """Each device's verify of the copy its first pull gave: its cell's cases at the loaded version."""
    from sync.checksums import bucket_sums

    return [
        (t, {"device_id": d, "buckets": bucket_sums((uuid.UUID(c), district.case_version) for c in case_ids)})
        for t, d, case_ids in district.devices
    ]


async def replay_plans(url: str, token: str, device_id: str, mutation: dict) -> list[tuple[str, str]]:
    from sync.push import push

    actor = await _actor(token)
    async with recorded_queries() as seen:
        answer = await push(actor, uuid.UUID(device_id), [mutation])
    assert answer.results[0].status == "duplicate", answer.results[0]
    return [(sql, await explain(url, sql, args)) for sql, args in seen]


# --- the storm ----------------------------------------------------------------------------------


def batches(district: District, size: int) -> list[tuple[str, dict]]:
    """One push per device: accept, then arrive, on `size // 4` of its cases, and notes to fill the batch.
    Every base version is the one the first pull showed; the device's own earlier changes never conflict."""
    out = []
    for token, device_id, case_ids in district.devices:
        moves = case_ids[: size // 4]
        ops = [(action, c, {}) for c in moves for action in ("accept", "arrive")]
        ops += [("note", case_ids[i % len(case_ids)], {"text": f"note {i}"}) for i in range(size - len(ops))]
        mutations = [
            {
                "id": str(uuid.uuid4()),
                "case_id": c,
                "base_version": district.case_version,
                "action": a,
                "payload": p,
                "client_time": "2026-11-24T08:00:00+08:00",
                "gps": {"lat": SOUTH, "lon": WEST, "accuracy_m": 6},
            }
            for a, c, p in ops
        ]
        out.append((token, {"device_id": device_id, "mutations": mutations}))
    return out


async def storm(args: argparse.Namespace, url: str, workdir: Path, wrk: str) -> None:
    from server.tables import Case

    db = Case._meta.db
    await db.start_connection_pool(min_size=1, max_size=4)
    try:
        started = time.monotonic()
        district = await load_district(url, args.devices, args.cases)
        console.print(
            f"loaded {args.devices:,} devices and {args.cases:,} cases in {time.monotonic() - started:.1f} s"
        )
        phases: list[Phase] = []
        with serve(url, workdir, args.workers) as (port, pids, served_on):
            console.print(served_on)

            async def phase(
                path: str,
                lines: list[tuple[str, dict]],
                name: str,
                *,
                once: bool,
                seconds: int,
                per_request: int = 1,
                capture: Path | None = None,
            ) -> None:
                async with CpuMeter(url, pids) as meter:
                    done = run_wrk(
                        wrk,
                        port,
                        path,
                        lines,
                        name=name,
                        once=once,
                        seconds=seconds,
                        connections=args.connections,
                        workdir=workdir,
                        per_request=per_request,
                        capture=capture,
                    )
                phases.append(
                    msgspec.structs.replace(done, server_cpu=meter.server, postgres_cpu=meter.postgres)
                )

            firsts = [(t, {"device_id": d, "cursor": None, "limit": 100}) for t, d, _ in district.devices]
            cursors_file = workdir / "cursors.tsv"
            await phase("/sync/pull", firsts, "first pull", once=True, seconds=300, capture=cursors_file)
            grid_cursor = dict(line.split("\t") for line in cursors_file.read_text().splitlines())
            cell_of = await _cells(url, district.id)
            agains = [
                (t, {"device_id": d, "cursor": grid_cursor[str(cell_of[d])], "limit": 100})
                for t, d, _ in district.devices
                if str(cell_of[d]) in grid_cursor
            ]
            await phase("/bench/noop", agains, "no-op", once=False, seconds=args.seconds)
            await phase("/sync/pull", agains, "empty re-pull", once=False, seconds=args.seconds)
            token, body = agains[-1]
            pull_plans = await empty_repull_plans(url, token, body["cursor"])
            verifies = healthy_copies(district)
            await phase("/sync/verify", verifies, "healthy verify", once=False, seconds=args.seconds)
            if phases[-1].statuses.get("ok_false") or phases[-1].failed:
                raise SystemExit("a healthy verify was not ok: the checksums disagree")
            token, body = verifies[-1]
            verify_queries = await verify_plans(url, token, body["buckets"])
            pushes = batches(district, args.batch)
            await phase(
                "/sync/push", pushes, "push", once=True, seconds=args.push_seconds, per_request=args.batch
            )
            stored = await _stored_ids(url, district.id)
            applied = [(t, b) for t, b in pushes if all(m["id"] in stored for m in b["mutations"])]
            if not applied:
                raise SystemExit("no push was applied in full: nothing to replay")
            await phase(
                "/sync/push", applied, "replay", once=False, seconds=args.seconds, per_request=args.batch
            )
            token, body = applied[0]
            replay = await replay_plans(url, token, body["device_id"], body["mutations"][0])
        report(phases, args, served_on)
        for title, plans in (
            ("empty re-pull", pull_plans),
            ("healthy verify", verify_queries),
            ("replay of one mutation", replay),
        ):
            for sql, plan in plans:
                console.rule(f"EXPLAIN (ANALYZE, BUFFERS): {title}")
                console.print(sql, markup=False, highlight=False)
                console.print(plan, markup=False, highlight=False)
        await _store_sizes(url, district.id)
    finally:
        await db.close_connection_pool()


async def _cells(url: str, district_id: int) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT d.id::text AS device, g.grid_id FROM devices d JOIN grid_workers g "
            "ON g.user_id = d.user_id WHERE d.district_id = $1",
            district_id,
        )
    finally:
        await conn.close()
    return {r["device"]: r["grid_id"] for r in rows}


async def _stored_ids(url: str, district_id: int) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id::text AS id FROM mutations WHERE district_id = $1", district_id)
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def _store_sizes(url: str, district_id: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, avg(pg_column_size(result))::int AS bytes, "
            "count(*) FILTER (WHERE status <> 'applied') AS refused "
            "FROM mutations WHERE district_id = $1",
            district_id,
        )
    finally:
        await conn.close()
    console.print(
        f"stored mutations: {row['n']:,} ({row['refused']} not applied), "
        f"{row['bytes']:,} bytes of stored result each on average"
    )


def report(phases: list[Phase], args: argparse.Namespace, served_on: str) -> None:
    table = Table(
        title=f"sync storm: {args.devices:,} devices, {args.cases:,} cases, "
        f"wrk -t1 -c{args.connections}, {args.workers} server processes ({served_on})",
        caption="CPU per op: per pull or verify, or per mutation for push and replay",
    )
    for column in (
        "phase",
        "answered",
        "failed",
        "seconds",
        "rate",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cases seen",
        "results",
        "server CPU ms/op",
        "postgres CPU ms/op",
    ):
        table.add_column(column, justify="left" if column in ("phase", "results") else "right")
    units = {
        "no-op": "requests/s",
        "first pull": "pulls/s",
        "empty re-pull": "pulls/s",
        "healthy verify": "verifies/s",
        "push": "mutations/s",
        "replay": "replays/s",
    }
    for p in phases:
        ops = max(1, p.answered * p.per_request)
        table.add_row(
            p.name,
            f"{p.answered:,}",
            str(p.failed + p.socket_errors),
            f"{p.duration_us / 1e6:.1f}",
            f"{p.rate:,.0f} {units[p.name]}",
            f"{p.p50_us / 1000:.1f}",
            f"{p.p99_us / 1000:.1f}",
            f"{p.max_us / 1000:.0f}",
            f"{p.cases:,}",
            " ".join(f"{k}={v}" for k, v in sorted(p.statuses.items())),
            f"{p.server_cpu * 1000 / ops:.2f}",
            f"{p.postgres_cpu * 1000 / ops:.2f}",
        )
    console.print(table)
    rates = {p.name: p.answered / (p.duration_us / 1e6) for p in phases}
    if rates.get("no-op"):
        for name, goal in (("empty re-pull", 0.5), ("first pull", 0.05)):
            if name in rates:
                ratio = rates[name] / rates["no-op"]
                console.print(
                    f"{name}: {ratio:.1%} of the no-op rate (goal {goal:.0%}: "
                    f"{'met' if ratio >= goal else 'not met'})"
                )


def main() -> None:
    args = parse_args()
    if args.serve_on:
        return serve_one(args.serve_on)
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="sync-storm-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        cluster = None
        url = os.environ.get("BENCH_DATABASE_URL")
        if not url:
            cluster, url = private_cluster(workdir / "postgres", "sync_storm", durable=False)
        try:
            # Piccolo's engine reads DATABASE_URL when the tables are first imported (in storm()).
            os.environ["DATABASE_URL"] = url
            migrate(url)
            asyncio.run(storm(args, url, workdir, wrk))
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
