"""Shared fixtures: the API in-process (ASGI, no socket) over the real test database, a fresh district
per test, and logging in as one of its people."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import httpx

from server.app import create_app
from server.tables import Case
from tests.support import PASSWORD, World, build_world


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The pool lives on the tests' own event loop; the app's lifespan is not run here.
    db = Case._meta.db
    await db.start_connection_pool(min_size=1, max_size=10)
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
        yield c
    await db.close_connection_pool()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    return await build_world()


@pytest.fixture
def login(client: httpx.AsyncClient, world: World):
    """`await login("worker1")` → headers with that user's bearer token."""
    cache: dict[str, dict[str, str]] = {}

    async def _login(name: str) -> dict[str, str]:
        if name not in cache:
            r = await client.post("/auth/login", json={"username": world.usernames[name], "password": PASSWORD})
            assert r.status_code == 200, r.text
            cache[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        return cache[name]

    return _login
