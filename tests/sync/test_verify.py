"""Verify and heal (DESIGN §7, §12): a phone's copy of its scope checked by 16 bucket checksums and
repaired in one round trip."""

from __future__ import annotations

import hashlib
import uuid

from server.accounts.service import actor_for_user
from server.cases.scope import visibility_sql
from server.db import fetch
from sync.checksums import bucket_sums, bucket_sums_sql
from tests.support import World, new_case
from tests.sync.test_sync_api import mutation, pull_all, push


def checksums(copy: dict[str, dict]) -> list[str]:
    """DESIGN §7 read literally, apart from the server's code: first hex digit of the id picks the
    bucket; sum mod 2^64 of the first 8 bytes of SHA-256("<id>:<version>"), big-endian, decimal."""
    sums = [0] * 16
    for case in copy.values():
        digest = hashlib.sha256(f"{case['id']}:{case['version']}".encode()).digest()
        bucket = int(case["id"][0], 16)
        sums[bucket] = (sums[bucket] + int.from_bytes(digest[:8], "big")) % 2**64
    return [str(s) for s in sums]


async def verify(client, headers, device_id, copy) -> dict:
    r = await client.post(
        "/sync/verify", headers=headers, json={"device_id": device_id, "buckets": checksums(copy)}
    )
    assert r.status_code == 200, r.text
    return r.json()


def heal(copy: dict[str, dict], answer: dict) -> dict[str, dict]:
    """What the phone does: each repaired bucket of its copy becomes exactly the cases sent."""
    buckets = {b["bucket"] for b in answer["repaired"]}
    healed = {i: c for i, c in copy.items() if int(i[0], 16) not in buckets}
    for b in answer["repaired"]:
        assert all(int(c["id"][0], 16) == b["bucket"] for c in b["cases"])
        healed.update({c["id"]: c for c in b["cases"]})
    return healed


async def test_a_healthy_copy_verifies_ok_and_a_broken_one_heals_in_one_round_trip(
    client, world: World, login, device
):
    agent = await login("agent")
    cases = [await new_case(client, agent, world, cell="cell_b", dispatch_to="squad") for _ in range(6)]
    elsewhere = await new_case(client, agent, world, cell="cell_a")
    headers, device_id = await device("member1")
    copy, _, _, _ = await pull_all(client, headers, device_id)
    assert set(copy) == {c["id"] for c in cases}
    assert await verify(client, headers, device_id, copy) == {"ok": True, "repaired": []}

    lost, stale, departed = cases[0], cases[1], cases[2]
    (moved,) = await push(client, headers, device_id, [mutation(stale, "note", {"text": "later change"})])
    broken = {i: c for i, c in copy.items() if i != lost["id"]}  # lost, stale kept as pulled
    # A case that left the scope (returned) and one the phone should never have had.
    (returned,) = await push(
        client, headers, device_id, [mutation(departed, "return", {"reason": "not ours"})]
    )
    assert returned["status"] == "applied"
    broken[elsewhere["id"]] = elsewhere
    answer = await verify(client, headers, device_id, broken)
    assert answer["ok"] is False
    expected_buckets = {int(c["id"][0], 16) for c in (lost, stale, departed, elsewhere)}
    assert {b["bucket"] for b in answer["repaired"]} == expected_buckets
    healed = heal(broken, answer)
    assert set(healed) == {c["id"] for c in cases} - {departed["id"]}
    assert healed[stale["id"]]["version"] == moved["case"]["version"]
    assert await verify(client, headers, device_id, healed) == {"ok": True, "repaired": []}


async def test_an_accused_worker_cannot_learn_of_the_accusation_through_verify(
    client, world: World, login, device
):
    agent = await login("agent")
    accusation = await new_case(
        client, agent, world, cell="cell_a", type="report", accused_user_id=world.users["worker1"]
    )
    headers, device_id = await device("worker1")
    # Whatever the phone claims, only cases in its scope come back.
    claims = {"buckets": [str(2**64 - 1)] * 16, "device_id": device_id}
    r = await client.post("/sync/verify", headers=headers, json=claims)
    assert r.status_code == 200
    sent = {c["id"] for b in r.json()["repaired"] for c in b["cases"]}
    assert accusation["id"] not in sent
    other_headers, _ = await device("worker2")
    r = await client.post("/sync/verify", headers=other_headers, json=claims)
    assert (r.status_code, r.json()["code"]) == (403, "device_not_yours")


async def test_bad_checksums_are_refused(client, world: World, device):
    headers, device_id = await device("worker1")
    for buckets in (
        ["0"] * 15,
        ["0"] * 17,
        ["-1"] + ["0"] * 15,
        [str(2**64)] + ["0"] * 15,
        ["x"] * 16,
        [0] * 16,
    ):
        r = await client.post(
            "/sync/verify", headers=headers, json={"device_id": device_id, "buckets": buckets}
        )
        assert r.status_code == 400, (buckets, r.text)
        assert r.json()["code"] in {"invalid_value", "wrong_type"}, r.text


async def test_the_sql_checksums_equal_the_python_rule(client, world: World, login):
    agent = await login("agent")
    for _ in range(40):
        await new_case(client, agent, world, cell="cell_a")
    # Versions far apart, and digests whose signed form is negative, both occur in 40 cases.
    await fetch(
        "UPDATE cases SET version = version + (random() * 1000)::int WHERE district_id = {}",
        world.district_id,
    )
    actor = await actor_for_user({"id": world.users["agent"]})
    visible, args = visibility_sql(actor)
    rows = await fetch(f"SELECT id, version FROM cases WHERE {visible}", *args)
    python = bucket_sums((r["id"], r["version"]) for r in rows)
    sql = ["0"] * 16
    for r in await fetch(bucket_sums_sql(visible), *args):
        sql[r["bucket"]] = r["checksum"]
    assert sql == python
    assert sum(1 for s in python if s != "0") > 8


def test_the_rule_matches_a_sum_worked_by_hand() -> None:
    a = uuid.UUID("a0000000-0000-4000-8000-000000000001")
    b = uuid.UUID("a0000000-0000-4000-8000-000000000002")
    da = int(hashlib.sha256(b"a0000000-0000-4000-8000-000000000001:3").hexdigest()[:16], 16)
    db = int(hashlib.sha256(b"a0000000-0000-4000-8000-000000000002:1").hexdigest()[:16], 16)
    sums = bucket_sums([(a, 3), (b, 1)])
    assert sums[10] == str((da + db) % 2**64) and sums[:10] == ["0"] * 10 and sums[11:] == ["0"] * 5


async def test_a_healthy_verify_again_sends_no_query_and_a_change_is_still_caught(
    client, world: World, login, device
):
    """Verifying again while nothing in the scope changed is answered from the checksums
    remembered with their snapshot (sync.watch's proof); a change by the office, between two
    verifies, is noticed at once."""
    from tests.sync.test_memory import counted_queries

    agent = await login("agent")
    case = await new_case(client, agent, world, cell="cell_b", dispatch_to="squad")
    headers, device_id = await device("member1")
    copy, _, _, _ = await pull_all(client, headers, device_id)
    assert await verify(client, headers, device_id, copy) == {"ok": True, "repaired": []}
    with counted_queries() as queries:
        assert await verify(client, headers, device_id, copy) == {"ok": True, "repaired": []}
    assert queries == []
    r = await client.post(f"/cases/{case['id']}/note", headers=agent, json={"payload": {"text": "moved on"}})
    assert r.status_code == 200, r.text
    answer = await verify(client, headers, device_id, copy)
    assert answer["ok"] is False
    (bucket,) = answer["repaired"]
    assert [c["version"] for c in bucket["cases"] if c["id"] == case["id"]] == [case["version"] + 1]
