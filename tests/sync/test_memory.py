"""Empty re-pulls answered from memory (sync.watch, sync.sessions): no query when nothing changed,
and never a skipped change, a revoked token accepted, or a stale scope, even when the listening
connection is killed in the middle of a storm of pulls and pushes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import uuid

import asyncpg
import pytest

from server.accounts.service import token_hash
from server.db import fetch
from sync.watch import APPLICATION_NAME, ChangeLog, Snapshot, watch
from tests.support import World, new_case
from tests.sync.test_sync_api import mutation, pull_all, push

# --- the rule, pure ------------------------------------------------------------------------------


def snap(text: str) -> Snapshot:
    return Snapshot.parse(text)


def test_a_snapshot_covers_another_only_when_everything_finished_there_is_finished_in_it():
    assert snap("10:20:12,15").covers(snap("10:18:12,15"))
    assert not snap("10:18:").covers(snap("10:20:")), "19 may have finished in the other"
    assert not snap("10:20:12").covers(snap("10:20:")), "12 finished in the other, not in this one"
    assert snap("10:20:16").covers(snap("10:15:"))  # 16 was unfinished in the other too


def test_memory_says_unchanged_only_when_no_late_or_new_transaction_touched_the_keys():
    log = ChangeLog(snap("100:100:"))
    since = snap("105:110:107")
    assert log.unchanged(since, ["grid:1"])
    log.record(104, ["grid:1"])  # finished in `since`: already pulled
    assert log.unchanged(since, ["grid:1"])
    log.record(110, ["grid:2"])  # another cell's change
    assert log.unchanged(since, ["grid:1"])
    log.record(107, ["grid:1"])  # committed late: it was running when `since` was taken
    assert not log.unchanged(since, ["grid:1"])
    log2 = ChangeLog(snap("100:100:"))
    log2.record(112, ["*:7"])  # a bulk change names the whole district
    assert not log2.unchanged(since, ["grid:1", "*:7"])


def test_memory_does_not_vouch_for_what_happened_before_it_listened_or_what_it_forgot():
    log = ChangeLog(snap("100:120:"))
    assert not log.unchanged(snap("90:110:"), ["grid:1"]), "a cursor older than the session"
    small = ChangeLog(snap("1:1:"), capacity=4)
    for xid in range(10, 16):
        small.record(xid, ["grid:9"])
    assert small.floor > 10
    assert not small.unchanged(snap("10:30:"), ["grid:1"]), "ids below the floor are forgotten"
    assert small.unchanged(snap("20:30:"), ["grid:1"])


# --- over the API --------------------------------------------------------------------------------


@contextlib.contextmanager
def counted_queries():
    """Statements sent on any connection but the listening one's own round trips."""
    seen: list[str] = []
    originals = {name: getattr(asyncpg.Connection, name) for name in ("fetch", "fetchval", "execute")}

    def spy(name):
        async def call(self, query, *args, **kwargs):
            if query != "SELECT 1":
                seen.append(query)
            return await originals[name](self, query, *args, **kwargs)

        return call

    for name in originals:
        setattr(asyncpg.Connection, name, spy(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)


async def test_an_empty_re_pull_sends_no_query_and_keeps_its_cursor(client, world: World, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, cell="cell_a")
    headers, device_id = await device("worker1")
    seen, _, cursor, _ = await pull_all(client, headers, device_id)
    assert set(seen) == {case["id"]}
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursor)  # the device user is cached
    await new_case(client, agent, world, cell="cell_b")  # another cell: not in worker1's keys
    with counted_queries() as queries:
        again, tombstones, same, _ = await pull_all(client, headers, device_id, cursor)
    assert (again, tombstones, same) == ({}, [], cursor)
    assert queries == []
    # A change in the device's cell is seen at once by the next pull.
    r = await client.post(
        f"/cases/{case['id']}/note", headers=agent, json={"payload": {"text": "called back"}}
    )
    assert r.status_code == 200, r.text
    seen, _, _, _ = await pull_all(client, headers, device_id, cursor)
    assert seen[case["id"]]["version"] == case["version"] + 1


async def test_the_alert_workers_bookkeeping_sends_no_phone_its_cases_again(
    client, world: World, login, device
):
    """A pass of the alert worker writes `next_alert_at` on every case it looks at: no change a
    phone needs, so its re-pull stays empty and is still answered from memory."""
    from notify.worker import run_pass

    agent = await login("agent")
    case = await new_case(client, agent, world, cell="cell_a", dispatch_to="street")
    headers, device_id = await device("worker1")
    _, _, cursor, _ = await pull_all(client, headers, device_id)
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    before = await fetch("SELECT change_xid::text AS x FROM cases WHERE id = {}", case["id"])
    await fetch(
        "UPDATE cases SET next_alert_at = now() - interval '1 minute' WHERE district_id = {}",
        world.district_id,
    )
    await run_pass()
    after = await fetch("SELECT change_xid::text AS x, next_alert_at FROM cases WHERE id = {}", case["id"])
    assert after[0]["x"] == before[0]["x"]
    with counted_queries() as queries:
        again, tombstones, same, _ = await pull_all(client, headers, device_id, cursor)
    assert (again, tombstones, same, queries) == ({}, [], cursor, [])
    # A real change still stamps the case and reaches the phone.
    r = await client.post(f"/cases/{case['id']}/note", headers=agent, json={"payload": {"text": "on my way"}})
    assert r.status_code == 200, r.text
    seen, _, _, _ = await pull_all(client, headers, device_id, cursor)
    assert set(seen) == {case["id"]}


async def test_a_logged_out_token_is_refused_at_once_even_when_cached(client, world: World, device):
    headers, device_id = await device("worker1")
    _, _, cursor, _ = await pull_all(client, headers, device_id)
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    r = await client.post("/auth/logout", headers=headers)
    assert r.status_code in (200, 204), r.text
    r = await client.post("/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_a_token_that_expires_while_cached_is_refused(client, world: World, device):
    _, device_id = await device("worker1")
    token = secrets.token_urlsafe(32)
    await fetch(
        "INSERT INTO auth_tokens (token_hash, district_id, user_id, created_at, expires_at) "
        "VALUES ({}, {}, {}, now(), now() + interval '1 second')",
        token_hash(token),
        world.district_id,
        world.users["worker1"],
    )
    headers = {"Authorization": f"Bearer {token}"}
    _, _, cursor, _ = await pull_all(client, headers, device_id)
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    await asyncio.sleep(1.2)
    r = await client.post("/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_a_cell_given_to_another_worker_reaches_the_cached_actor(client, world: World, login, device):
    agent = await login("agent")
    theirs = await new_case(client, agent, world, cell="cell_b")
    headers, device_id = await device("worker1")
    seen, _, cursor, _ = await pull_all(client, headers, device_id)
    assert theirs["id"] not in seen
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    await fetch(
        "INSERT INTO grid_workers (district_id, grid_id, user_id) VALUES ({}, {}, {})",
        world.district_id,
        world.grids["cell_b"],
        world.users["worker1"],
    )
    seen, _, _, _ = await pull_all(client, headers, device_id, cursor)
    assert theirs["id"] in seen, "the new cell's cases come with the next pull"


async def _kill_listeners() -> int:
    rows = await fetch(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = {}",
        APPLICATION_NAME,
    )
    return rows[0]["n"]


async def _listeners() -> int:
    rows = await fetch(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = {}", APPLICATION_NAME
    )
    return rows[0]["n"]


async def _wait_for_session(after: int) -> None:
    for _ in range(100):
        if watch.sessions > after and watch.log is not None:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the listener did not come back")


async def test_killing_the_listener_mid_storm_skips_no_change_and_it_comes_back(
    client, world: World, login, device
):
    """Handhelds pull in a loop while the office and the handhelds change their cases, and the
    listening connection is terminated several times: at the end every device holds every case of
    its scope at its latest version, and the listener listens again and answers from memory."""
    agent = await login("agent")
    cases = {
        cell: [await new_case(client, agent, world, cell=cell, dispatch_to="street") for _ in range(3)]
        for cell in ("cell_a", "cell_b")
    }
    phones = {"worker1": "cell_a", "worker2": "cell_b"}
    handhelds = {name: await device(name) for name in phones}
    copies: dict[str, dict[str, dict]] = {name: {} for name in phones}
    cursors: dict[str, str | None] = {name: None for name in phones}
    storming = True
    rng = random.Random(16)

    async def pulling(name: str) -> None:
        headers, device_id = handhelds[name]
        while storming:
            seen, _, cursors[name], _ = await pull_all(client, headers, device_id, cursors[name])
            copies[name].update(seen)
            await asyncio.sleep(0)

    async def changing() -> None:
        for n in range(40):
            cell = rng.choice(list(cases))
            case = rng.choice(cases[cell])
            if n % 2:
                r = await client.post(
                    f"/cases/{case['id']}/note", headers=agent, json={"payload": {"text": f"office {n}"}}
                )
                assert r.status_code == 200, r.text
            else:
                name = next(k for k, v in phones.items() if v == cell)
                headers, device_id = handhelds[name]
                (result,) = await push(
                    client, headers, device_id, [mutation(case, "note", {"text": f"phone {n}"}, 0)]
                )
                assert result["status"] == "applied", result
            await asyncio.sleep(0.01)

    async def killing() -> int:
        killed = 0
        for _ in range(4):
            await asyncio.sleep(0.08)
            before = watch.sessions
            killed += await _kill_listeners()
            await _wait_for_session(before)
        return killed

    await pull_all(client, *handhelds["worker1"])  # starts this process's listener
    pullers = [asyncio.create_task(pulling(name)) for name in phones]
    killed, _ = await asyncio.gather(killing(), changing())
    storming = False
    await asyncio.gather(*pullers)
    assert killed >= 4
    for name, cell in phones.items():
        headers, device_id = handhelds[name]
        seen, _, cursors[name], _ = await pull_all(client, headers, device_id, cursors[name])
        copies[name].update(seen)
        rows = await fetch("SELECT id::text AS id, version FROM cases WHERE grid_id = {}", world.grids[cell])
        assert {c: v["version"] for c, v in copies[name].items()} == {r["id"]: r["version"] for r in rows}
    # A change committed while nobody listens, and nothing after it: its notification is lost.
    headers, device_id = handhelds["worker1"]
    _, _, cursor, _ = await pull_all(client, headers, device_id, cursors["worker1"])
    before = watch.sessions
    await _kill_listeners()
    while await _listeners():
        await asyncio.sleep(0.005)
    deaf = cases["cell_a"][0]["id"]
    await fetch("UPDATE cases SET title = 'while nobody listened' WHERE id = {}", uuid.UUID(deaf))
    await _wait_for_session(before)
    seen, _, cursor, _ = await pull_all(client, headers, device_id, cursor)
    assert seen[deaf]["title"] == "while nobody listened"
    # Back to memory: an empty re-pull sends no query again.
    with counted_queries() as queries:
        again, _, _, _ = await pull_all(client, headers, device_id, cursor)
    assert again == {} and queries == []


async def test_batches_locking_shared_cases_in_opposite_orders_all_apply_once(
    client, world: World, login, device
):
    """A batch holds its cases' locks until it commits: two batches naming two cases in opposite
    orders must neither deadlock into an error nor apply anything twice."""
    agent = await login("agent")
    x, y = [await new_case(client, agent, world, cell="cell_a") for _ in range(2)]
    first, second = await device("worker1"), await device("worker1")
    for round_ in range(3):
        forward = [mutation(c, "note", {"text": f"forward {round_}"}, 0) for c in (x, y)]
        backward = [mutation(c, "note", {"text": f"backward {round_}"}, 0) for c in (y, x)]
        done = await asyncio.gather(push(client, *first, forward), push(client, *second, backward))
        assert [r["status"] for results in done for r in results] == ["applied"] * 4
    rows = await fetch(
        "SELECT count(*) AS n FROM case_events WHERE case_id = ANY({}::uuid[]) AND action = 'note'",
        [uuid.UUID(x["id"]), uuid.UUID(y["id"])],
    )
    assert rows[0]["n"] == 12
