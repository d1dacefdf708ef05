"""Shared fixtures: the API in-process (ASGI, no socket) over the real test database, a fresh district
per test, and logging in as one of its people."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.db import close_pool, start_pool
from server.embedded.cluster import free_port
from tests.support import PASSWORD, World, build_world, running


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The pool lives on the tests' own event loop; the app's lifespan is not run here.
    await start_pool(max_size=10)
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
        yield c
    await close_pool()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    return await build_world()


@pytest.fixture
def login(client: httpx.AsyncClient, world: World):
    """`await login("worker1")` → headers with that user's bearer token."""
    cache: dict[str, dict[str, str]] = {}

    async def _login(name: str) -> dict[str, str]:
        if name not in cache:
            r = await client.post(
                "/auth/login", json={"username": world.usernames[name], "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            cache[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        return cache[name]

    return _login


@pytest.fixture
def device(client, login):
    """`await device("worker1")` → (headers, device_id) for a freshly registered handheld."""

    async def _device(name: str) -> tuple[dict[str, str], str]:
        headers = await login(name)
        r = await client.post(
            "/devices",
            headers=headers,
            json={"name": f"{name}'s phone", "platform": "android", "app_version": "1.0"},
        )
        assert r.status_code == 201, r.text
        return headers, r.json()["device_id"]

    return _device


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `moto_server` subprocess, auth off, for the session; yields `host:port`."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if executable is None:
        pytest.fail("moto_server not installed (pip install 'moto[s3,server]')")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}  # auth off
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with running(
        [executable, "-H", "127.0.0.1", "-p", str(port)],
        f"http://127.0.0.1:{port}/",
        log,
        env=env,
        timeout=30,
    ):
        yield f"127.0.0.1:{port}"
