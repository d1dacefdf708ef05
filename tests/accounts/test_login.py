"""Log-in as an attacker meets it: throttled per username and per address across processes (the
attempts live in PostgreSQL), the same work for unknown usernames, Argon2 at the recommended
cost with rehashing, and tokens that stop working at log-out."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
from argon2 import PasswordHasher

from server.accounts.service import hash_password
from server.app import create_app
from server.settings import Settings, get_settings
from server.tables import AuthToken, User
from tests.support import PASSWORD, World

_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client address no other test used, so per-address counts start at zero."""
    n = next(_addresses)
    return f"10.77.{n // 250}.{n % 250 + 1}"


@asynccontextmanager
async def api(address: str | None = None, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The API with some settings changed, seen from `address` (the session pool is reused)."""
    app = create_app(msgspec.structs.replace(get_settings(), **settings))
    transport = httpx.ASGITransport(app=app, client=(address or fresh_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
        yield c


async def attempt(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await c.post("/auth/login", json={"username": username, "password": password})


async def test_repeated_wrong_passwords_lock_the_username_then_the_lock_ends(client, world: World):
    username = world.usernames["agent"]
    async with api(login_max_failures=5, login_lock_seconds=1, login_lock_max_seconds=4) as c:
        for _ in range(5):
            r = await attempt(c, username, "guess")
            assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
        r = await attempt(c, username, "guess")
        assert r.status_code == 429, r.text
        assert r.json()["code"] == "too_many_attempts" and int(r.headers["Retry-After"]) >= 1
        # Locked means locked: the right password waits too, else guessing would go on.
        r = await attempt(c, username, PASSWORD)
        assert r.status_code == 429
    # The lock is per username, from any address.
    async with api(login_max_failures=5, login_lock_seconds=1, login_lock_max_seconds=4) as other:
        assert (await attempt(other, username, PASSWORD)).status_code == 429
        await asyncio.sleep(1.1)
        r = await attempt(other, username, PASSWORD)
        assert r.status_code == 200, r.text
        # A success clears the count: five more mistakes are allowed before the next lock.
        for _ in range(5):
            assert (await attempt(other, username, "guess")).status_code == 401
        assert (await attempt(other, username, "guess")).status_code == 429


async def test_each_failure_after_the_limit_doubles_the_lock_up_to_its_bound(client, world: World):
    username = world.usernames["worker1"]
    async with api(login_max_failures=2, login_lock_seconds=1, login_lock_max_seconds=2) as c:
        waits = []
        for _ in range(4):
            while (r := await attempt(c, username, "guess")).status_code == 429:
                waits.append(int(r.headers["Retry-After"]))
                await asyncio.sleep(0.3)
        # Locks of 1 s, then 2 s, then 2 s again (the bound), never longer.
        assert max(waits) <= 2 and 2 in waits


async def test_one_address_guessing_many_usernames_is_throttled(client, world: World):
    address = fresh_address()
    async with api(address, login_max_failures_per_address=4, login_lock_seconds=60) as c:
        for i in range(4):
            r = await attempt(c, f"nobody-{i}-{world.district_id}", "guess")
            assert r.status_code == 401
        r = await attempt(c, world.usernames["leader1"], PASSWORD)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 50
    # Another address is not affected.
    async with api(login_max_failures_per_address=4) as c:
        assert (await attempt(c, world.usernames["leader1"], PASSWORD)).status_code == 200


async def test_successful_log_ins_do_not_count_against_the_address(client, world: World):
    address = fresh_address()
    async with api(address, login_max_failures_per_address=3) as c:
        for _ in range(10):
            assert (await attempt(c, world.usernames["squad1"], PASSWORD)).status_code == 200


async def test_concurrent_guesses_cannot_slip_past_the_limit(client, world: World):
    username = world.usernames["member1"]
    async with api(login_max_failures=5, login_lock_seconds=60) as c:
        answers = await asyncio.gather(*(attempt(c, username, f"guess-{i}") for i in range(30)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(401) == 5 and statuses.count(429) == 25, statuses


async def test_unknown_username_does_the_same_work_as_a_wrong_password(client, world: World):
    # Costly enough that Argon2 dominates; before, an unknown username skipped it (~0.3x the time).
    cost = {"argon2_time_cost": 3, "argon2_memory_kib": 32 * 1024, "argon2_parallelism": 1}
    username = world.usernames["evaluator1"]
    async with api(login_max_failures=100, login_max_failures_per_address=100, **cost) as c:

        async def median_ms(name: str) -> float:
            times = []
            for _ in range(7):
                start = time.perf_counter()
                r = await attempt(c, name, "guess")
                times.append(time.perf_counter() - start)
                assert r.status_code == 401 and r.json()["message"] == "wrong username or password"
            return statistics.median(times) * 1000

        await median_ms(username)  # warm the dummy hash and the connections
        wrong, unknown = await median_ms(username), await median_ms(f"ghost-{world.district_id}")
    assert unknown > 0.7 * wrong, (unknown, wrong)


def test_production_hashes_use_argon2_cffi_recommended_profile():
    stored = hash_password("pw", Settings())
    defaults = PasswordHasher()
    assert stored.startswith(
        f"$argon2id$v=19$m={defaults.memory_cost},t={defaults.time_cost},p={defaults.parallelism}$"
    )
    assert (defaults.memory_cost, defaults.time_cost) == (65536, 3)


async def test_a_hash_of_other_parameters_is_replaced_at_log_in(client, world: World):
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await User.update({User.password_hash: old}).where(User.id == world.users["agent"])
    async with api() as c:
        assert (await attempt(c, world.usernames["agent"], PASSWORD)).status_code == 200
        row = await User.select(User.password_hash).where(User.id == world.users["agent"]).first()
        assert row["password_hash"] != old
        settings = get_settings()
        assert f"m={settings.argon2_memory_kib},t={settings.argon2_time_cost}," in row["password_hash"]
        assert (await attempt(c, world.usernames["agent"], PASSWORD)).status_code == 200


async def test_log_out_revokes_the_token_everywhere(client, world: World, device):
    headers, device_id = await device("worker1")
    r = await client.get("/cases", headers=headers)
    assert r.status_code == 200
    r = await client.post("/auth/logout", headers=headers)
    assert r.status_code == 204, r.text
    for method, path, body in (
        ("GET", "/cases", None),
        ("POST", "/sync/pull", {"device_id": device_id, "cursor": None, "limit": 10}),
        ("POST", "/devices", {"name": "x", "platform": "android", "app_version": "1"}),
        ("POST", "/auth/logout", None),
    ):
        r = await client.request(method, path, headers=headers, json=body)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized", (path, r.text)
    assert (await client.post("/auth/logout")).status_code == 401


async def test_expired_tokens_are_pruned_at_log_in(client, world: World, login):
    await login("agent")
    user_id = world.users["agent"]
    past = datetime.now(UTC) - timedelta(hours=1)
    await AuthToken.update({AuthToken.expires_at: past}).where(AuthToken.user_id == user_id)
    expired = await AuthToken.count().where(AuthToken.user_id == user_id)
    assert expired >= 1
    async with api() as c:
        assert (await attempt(c, world.usernames["admin"], PASSWORD)).status_code == 200
    assert await AuthToken.count().where((AuthToken.user_id == user_id) & (AuthToken.expires_at <= past)) == 0


async def test_right_and_wrong_passwords_at_once_for_one_username_never_fail(client, world: World):
    # A success forgets the username's record while other attempts are counting it.
    username = world.usernames["worker2"]
    async with api(login_max_failures=1000, login_max_failures_per_address=1000) as c:
        for _ in range(3):
            answers = await asyncio.gather(
                *(attempt(c, username, PASSWORD if i % 2 else "guess") for i in range(16))
            )
            assert sorted({r.status_code for r in answers}) == [200, 401], [r.text for r in answers]
