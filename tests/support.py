"""A small district built the way the demo builds one, for tests that need people, units and cells."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
from PIL import Image

from server.districts import setup as seed
from server.tables import Category, Grid, GridWorker

PASSWORD = "secret-pw"
_codes = itertools.count(1)


def unique_code(prefix: str) -> str:
    """District and unit codes no other test uses, even on a shared TEST_DATABASE_URL."""
    return f"{prefix}{os.getpid()}-{next(_codes)}"


class World(msgspec.Struct, kw_only=True):
    district_id: int
    units: dict[str, int]
    users: dict[str, int]
    usernames: dict[str, str]
    grids: dict[str, int]
    categories: dict[str, int]


def square(lon: float, lat: float, size: float) -> str:
    """A square cell as WKT MultiPolygon, south-west corner at (lon, lat)."""
    x2, y2 = lon + size, lat + size
    return f"MULTIPOLYGON((({lon} {lat}, {x2} {lat}, {x2} {y2}, {lon} {y2}, {lon} {lat})))"


async def add_grid(
    district_id: int,
    code: str,
    level: str,
    wkt: str,
    *,
    parent_id: int | None = None,
    unit_id: int | None = None,
    worker_ids: tuple[int, ...] = (),
) -> int:
    rows = await Grid.raw(
        "INSERT INTO grids (district_id, parent_id, code, name, level, unit_id, geom) "
        "VALUES ({}, {}, {}, {}, {}, {}, ST_GeomFromText({}, 4326)) RETURNING id",
        district_id,
        parent_id,
        code,
        code,
        level,
        unit_id,
        wkt,
    )
    grid_id = rows[0]["id"]
    for user_id in worker_ids:
        await GridWorker.insert(GridWorker(district_id=district_id, grid_id=grid_id, user_id=user_id))
    return grid_id


async def build_world() -> World:
    """District office, a city-management bureau with a squad, a street office, one user per role,
    and two neighbouring cells (cell_a: worker1, cell_b: worker2) near 31.23 N 121.47 E."""
    code = unique_code("T")
    district_id = await seed.create_district(code, f"Test district {code}")
    units = {"office": await seed.add_unit(district_id, "office", "District complaint office")}
    units["bureau"] = await seed.add_unit(
        district_id,
        "bureau",
        "City management bureau",
        parent_id=units["office"],
        leader=("Li In-charge", "13800000001"),
        head=("Wang Head", "13800000002"),
    )
    units["squad"] = await seed.add_unit(
        district_id, "squad", "First squad", parent_id=units["bureau"], kind="squad"
    )
    units["street"] = await seed.add_unit(district_id, "street", "Street office", parent_id=units["office"])
    roles = {
        "agent": ("agent", "office"),
        "admin": ("district_admin", "office"),
        "worker1": ("grid_worker", "street"),
        "worker2": ("grid_worker", "street"),
        "squad1": ("squad_leader", "squad"),
        "member1": ("squad_member", "squad"),
        "leader1": ("unit_leader", "bureau"),
        "evaluator1": ("evaluator", None),
    }
    users, usernames = {}, {}
    for name, (role, unit) in roles.items():
        usernames[name] = f"{name}-{code}"
        users[name] = await seed.add_user(
            district_id,
            usernames[name],
            name.title(),
            role,
            PASSWORD,
            unit_id=units[unit] if unit else None,
            phone="13900000000",
        )
    street = await add_grid(district_id, "street", "street", square(121.46, 31.22, 0.02))
    grids = {
        "street": street,
        "cell_a": await add_grid(
            district_id,
            "cell_a",
            "cell",
            square(121.46, 31.22, 0.01),
            parent_id=street,
            unit_id=units["street"],
            worker_ids=(users["worker1"],),
        ),
        "cell_b": await add_grid(
            district_id,
            "cell_b",
            "cell",
            square(121.47, 31.22, 0.01),
            parent_id=street,
            unit_id=units["street"],
            worker_ids=(users["worker2"],),
        ),
    }
    categories = {
        r["code"]: r["id"]
        for r in await Category.select(Category.code, Category.id).where(Category.district_id == district_id)
    }
    return World(
        district_id=district_id,
        units=units,
        users=users,
        usernames=usernames,
        grids=grids,
        categories=categories,
    )


CELL_POINTS = {"cell_a": (31.225, 121.465), "cell_b": (31.225, 121.475)}


async def new_case(
    client,
    headers: dict[str, str],
    world: World,
    *,
    cell: str = "cell_a",
    dispatch_to: str | None = None,
    **fields,
) -> dict:
    """Register a complaint at a point of `cell` over the API, optionally dispatched to a unit."""
    lat, lon = CELL_POINTS[cell]
    body = {
        "type": "complaint",
        "description": "Broken street light",
        "lat": lat,
        "lon": lon,
        "category_id": world.categories["municipal"],
        **fields,
    }
    r = await client.post("/cases", headers=headers, json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    if dispatch_to:
        r = await client.post(
            f"/cases/{case['id']}/dispatch",
            headers=headers,
            json={"version": case["version"], "payload": {"unit_id": world.units[dispatch_to]}},
        )
        assert r.status_code == 200, r.text
        case = r.json()
    return case


def patrol_report(lat: float, lon: float, description: str = "Illegal dumping") -> dict:
    """A `report` mutation as a grid worker's handheld pushes it: a new case found on patrol."""
    return {
        "id": str(uuid.uuid4()),
        "case_id": str(uuid.uuid4()),
        "base_version": 0,
        "action": "report",
        "payload": {
            "category": "city_appearance",
            "type": "complaint",
            "description": description,
            "lat": lat,
            "lon": lon,
        },
        "client_time": "2026-11-23T09:00:00+08:00",
        "gps": {"lat": lat, "lon": lon, "accuracy_m": 4},
    }


def jpeg(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG, different for each seed."""
    image = Image.new("RGB", size, ((seed * 40) % 256, (seed * 90) % 256, (seed * 150) % 256))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def photo_slot(
    kind: str,
    data: bytes,
    *,
    lat: float = 31.2251,
    lon: float = 121.4651,
    heading: float = 90.0,
    taken_at: str = "2026-11-23T09:00:00+08:00",
    **extra,
) -> dict:
    return {
        "kind": kind,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "lat": lat,
        "lon": lon,
        "accuracy_m": 3.0,
        "heading": heading,
        "taken_at": taken_at,
        **extra,
    }


async def upload_photo(client, headers: dict[str, str], slot: dict, data: bytes) -> str:
    """Ask for a slot and send the bytes to the server when it asks for them; returns the photo id."""
    r = await client.post("/photos/slots", headers=headers, json=slot)
    assert r.status_code == 201, r.text
    answer = r.json()
    if answer["upload"] is not None:
        r = await client.put(answer["upload"]["url"], headers=headers, content=data)
        assert r.status_code == 204, r.text
    return answer["photo_id"]


@contextmanager
def running(
    command: list[str],
    probe_url: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """A server subprocess, yielded once `probe_url` answers with any status; stopped afterwards
    (terminate, then kill). Its output goes to `log`: an unread pipe would fill up and stall it."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, (
                f"{command[0]} exited with {process.returncode}:\n{log.read_text()}"
            )
            assert time.monotonic() < deadline, (
                f"{command[0]} did not answer within {timeout} s:\n{log.read_text()}"
            )
            try:
                httpx.get(probe_url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def app_server(tmp: Path, *, workers: int = 1, probe: str = "/schema/openapi.json") -> Iterator[int]:
    """The app under uvicorn as `gridcase run` serves it (uvloop and httptools: asyncio + h11 stall
    each keep-alive request ~44 ms, shared/STACK.md) on a free loopback port over the test
    database; yields the port. Photos go under `tmp`, the server's output to `tmp/server.log`."""
    from server.embedded.cluster import free_port
    from server.settings import ROOT

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "server.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "GRIDCASE_PHOTO_DIR": str(tmp / "photos")}
    with running(command, f"http://127.0.0.1:{port}{probe}", tmp / "server.log", env=env, cwd=ROOT):
        yield port
