"""The demo district as a visitor meets it (DESIGN §12): the named users log in and each sees a
believable slice of about sixty cases in every status and light."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from server.demo.district import API_KEY, DISTRICT_CODE, USERS, load_demo
from server.photos.images import inspect_image
from server.photos.storage import photo_store_from
from server.settings import Settings
from server.tables import ApiKey, Case, CaseEvent, District, Grid, GridWorker, Photo, Unit, User

ALL_STATUSES = {
    "registered",
    "dispatched",
    "accepted",
    "on_site",
    "resolved",
    "reviewed",
    "called_back",
    "closed",
    "archived",
}
OPEN = {"registered", "dispatched", "accepted", "on_site"}
ROLES = {
    "admin": "district_admin",
    "agent": "agent",
    "worker1": "grid_worker",
    "worker2": "grid_worker",
    "squad1": "squad_leader",
    "leader1": "unit_leader",
    "evaluator1": "evaluator",
}


async def counts(district_id: int) -> dict[str, int]:
    return {
        table.__name__: await table.count().where(table.district_id == district_id)
        for table in (Unit, User, Grid, GridWorker, Case, CaseEvent, Photo, ApiKey)
    }


@pytest.fixture(scope="module")
async def demo(client, tmp_path_factory) -> tuple[Settings, int]:
    # A fresh load with a known photo folder, even on a reused test database.
    await District.delete().where(District.code == DISTRICT_CODE)
    settings = Settings(photo_dir=tmp_path_factory.mktemp("demo-photos"))
    await load_demo(settings)
    district = await District.select(District.id).where(District.code == DISTRICT_CODE).first()
    return settings, district["id"]


async def login(client, username: str, password: str = "gridcase") -> dict[str, str]:
    r = await client.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def visible(client, headers) -> list[dict]:
    r = await client.get("/cases", headers=headers, params={"limit": 200})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return body["items"]


async def test_loading_twice_changes_nothing(client, demo):
    settings, district_id = demo
    first = await counts(district_id)
    assert first["Case"] >= 55 and first["Grid"] >= 40 and first["ApiKey"] == 1
    await load_demo(settings)
    assert await counts(district_id) == first
    assert await District.count().where(District.code == DISTRICT_CODE) == 1


async def test_every_named_user_logs_in_with_the_demo_password(client, demo):
    for username, role in ROLES.items():
        r = await client.post("/auth/login", json={"username": username, "password": "gridcase"})
        assert r.status_code == 200, (username, r.text)
        assert r.json()["user"]["role"] == role
    r = await client.post("/auth/login", json={"username": "agent", "password": "wrong"})
    assert r.status_code == 401
    assert {u[0] for u in USERS} > set(ROLES)


async def test_admin_sees_every_status_light_channel_and_type(client, demo):
    items = await visible(client, await login(client, "admin"))
    assert {c["status"] for c in items} == ALL_STATUSES
    assert {c["light"] for c in items} == {"green", "yellow", "red"}
    assert {c["channel"] for c in items} == {
        "phone",
        "wechat",
        "web",
        "app",
        "letter",
        "visit",
        "patrol",
        "open311",
    }
    assert {c["type"] for c in items} == {"consult", "help", "complaint", "report", "suggestion"}
    open_lights = Counter((c["status"], c["light"]) for c in items if c["status"] in OPEN - {"registered"})
    assert len(open_lights) == 9, open_lights


async def test_each_worker_sees_a_mix_in_their_own_cells_only(client, demo):
    _, district_id = demo
    cells: dict[str, set[int]] = {}
    for row in await GridWorker.select(GridWorker.grid_id, GridWorker.user_id.username).where(
        GridWorker.district_id == district_id
    ):
        cells.setdefault(row["user_id.username"], set()).add(row["grid_id"])
    everything = await visible(client, await login(client, "admin"))
    for worker, other in (("worker1", "worker2"), ("worker2", "worker1")):
        items = await visible(client, await login(client, worker))
        open_cases = [c for c in items if c["status"] in OPEN]
        assert len({c["status"] for c in open_cases}) >= 2, worker
        assert len({c["light"] for c in open_cases}) >= 2, worker
        assert not {c["grid_id"] for c in items} & cells[other], worker
        # Everything still on a handheld in the worker's cells, nothing more.
        mine = {c["id"] for c in everything if c["grid_id"] in cells[worker] and c["status"] != "archived"}
        assert {c["id"] for c in items} == mine


async def test_field_users_see_phones_masked(client, demo):
    items = await visible(client, await login(client, "worker1"))
    phones = [c["complainant_phone"] for c in items if c["complainant_phone"]]
    assert any("****" in p for p in phones)
    full = await visible(client, await login(client, "agent"))
    assert all("*" not in c["complainant_phone"] for c in full)


async def test_resolved_cases_carry_a_real_before_and_after_photo(client, demo):
    settings, _ = demo
    store = photo_store_from(kind="local", root=settings.photo_dir)
    items = await visible(client, await login(client, "admin"))
    handled = [c for c in items if any(e["action"] == "resolve" for e in c["events"])]
    assert len(handled) >= 20
    for case in handled:
        kinds = {p["kind"]: p for p in case["photos"]}
        assert set(kinds) == {"before", "after"}, case["ticket"]
        assert kinds["after"]["before_id"] == kinds["before"]["id"]
        assert kinds["after"]["taken_at"] > kinds["before"]["taken_at"]
    sample = handled[0]["photos"][0]
    data = await store.get(sample["sha256"])
    assert hashlib.sha256(data).hexdigest() == sample["sha256"]
    assert inspect_image(data).content_type == "image/jpeg"


async def test_the_civic_app_key_is_stored_hashed(client, demo):
    _, district_id = demo
    row = await ApiKey.select().where(ApiKey.district_id == district_id).first()
    assert row["key_hash"] == hashlib.sha256(API_KEY.encode()).hexdigest() and row["active"]


async def test_the_unit_tree_has_leaders_and_heads(client, demo):
    _, district_id = demo
    units = {u["code"]: u for u in await Unit.select().where(Unit.district_id == district_id)}
    assert {
        "office",
        "city-management",
        "squad-1",
        "squad-2",
        "environment",
        "greening",
        "street-1",
        "street-2",
    } <= set(units)
    assert units["squad-1"]["parent_id"] == units["squad-2"]["parent_id"] == units["city-management"]["id"]
    assert all(u["leader_phone"] and u["head_phone"] for u in units.values())
