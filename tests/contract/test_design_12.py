"""DESIGN §12, row by row, as a phone team would code against it: the demo district's users, real
HTTP to `gridcase run`, bearer tokens, the pull/push shapes, the six push actions, one error shape.

The test makes its own fresh cases in worker1's cells (as the agent would), so it passes however
often it runs against the same database.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
import pytest

from tests.support import jpeg

PASSWORD = "gridcase"
CASE_FIELDS = {"id", "ticket", "version", "status", "light", "events", "photos"}
EVENT_FIELDS = {"id", "action", "note", "mutation_id"}


@pytest.fixture(scope="module")
def api(server_url: str):
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


def login(api: httpx.Client, username: str) -> dict[str, str]:
    r = api.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert set(body["user"]) == {"id", "name", "role", "district_id", "unit_id"}
    return {"Authorization": f"Bearer {body['token']}"}


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) <= {"code", "message", "field"} and {"code", "message"} <= set(body)
    assert code is None or body["code"] == code


def pull_all(api, headers, device_id, cursor=None, limit=5):
    cases, tombstones = {}, []
    while True:
        r = api.post(
            "/sync/pull", headers=headers, json={"device_id": device_id, "cursor": cursor, "limit": limit}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"cases", "tombstones", "cursor", "has_more"}
        for case in body["cases"]:
            assert set(case) >= CASE_FIELDS
            assert all(set(e) >= EVENT_FIELDS for e in case["events"])
            cases[case["id"]] = case
        tombstones += body["tombstones"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return cases, tombstones, cursor


def mutation(case, action, payload=None, base_version=None):
    return {
        "id": str(uuid.uuid4()),
        "case_id": case["id"],
        "action": action,
        "payload": payload or {},
        "base_version": case["version"] if base_version is None else base_version,
        "client_time": "2026-11-23T09:30:00+08:00",
        "gps": {"lat": case["lat"], "lon": case["lon"], "accuracy_m": 6.0},
    }


def push(api, headers, device_id, mutations):
    r = api.post("/sync/push", headers=headers, json={"device_id": device_id, "mutations": mutations})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == [m["id"] for m in mutations]
    for result in results:
        assert set(result) <= {"id", "status", "code", "message", "original_status", "case"}
        assert result["status"] in {"applied", "duplicate", "rejected", "conflict"}
        assert ("original_status" in result) == (result["status"] == "duplicate")
    return results


def upload(api, headers, slot_body, data):
    r = api.post("/photos/slots", headers=headers, json=slot_body)
    assert r.status_code == 201, r.text
    slot = r.json()
    assert set(slot) == {"photo_id", "upload"}
    if slot["upload"] is not None:
        r = api.put(slot["upload"]["url"], headers=headers, content=data)
        assert r.status_code == 204, r.text
    return slot["photo_id"]


def test_log_in_and_errors(api):
    assert_error(
        api.post("/auth/login", json={"username": "worker1", "password": "wrong"}), 401, "invalid_credentials"
    )
    assert_error(
        api.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"}), 400
    )
    assert_error(
        api.post("/sync/pull", json={"device_id": str(uuid.uuid4()), "cursor": None, "limit": 5}), 401
    )
    for user in ("admin", "agent", "worker1", "worker2", "squad1", "leader1", "evaluator1"):
        login(api, user)


def test_a_field_day_over_http(api):
    worker, agent = login(api, "worker1"), login(api, "agent")
    r = api.post(
        "/devices",
        headers=worker,
        json={"name": "worker1 handheld", "platform": "android", "app_version": "3.2.0"},
    )
    assert r.status_code == 201, r.text
    device_id = r.json()["device_id"]

    # A full paged pull, then an empty re-pull.
    snapshot, _, cursor = pull_all(api, worker, device_id)
    assert snapshot, "the demo gives worker1 cases to pull"
    r = api.post("/sync/pull", headers=worker, json={"device_id": device_id, "cursor": cursor, "limit": 5})
    assert r.json()["cases"] == [] and r.json()["has_more"] is False
    cursor = r.json()["cursor"]

    # The office registers and dispatches three cases at a spot in worker1's cells.
    spot = next(c for c in snapshot.values() if c["lat"] is not None and c["lead_unit_id"] is not None)
    fresh = []
    for n in range(3):
        r = api.post(
            "/cases",
            headers=agent,
            json={
                "type": "complaint",
                "description": f"Contract test case {n}",
                "lat": spot["lat"],
                "lon": spot["lon"],
                "complainant_phone": "13912345678",
            },
        )
        assert r.status_code == 201, r.text
        case = r.json()
        r = api.post(
            f"/cases/{case['id']}/dispatch",
            headers=agent,
            json={"version": case["version"], "payload": {"unit_id": spot["lead_unit_id"]}},
        )
        assert r.status_code == 200, r.text
        fresh.append(r.json())
    pulled, _, cursor = pull_all(api, worker, device_id, cursor)
    assert {c["id"] for c in fresh} <= set(pulled)
    assert pulled[fresh[0]["id"]]["complainant_phone"] == "139****5678"
    c1, c2, c3 = (pulled[c["id"]] for c in fresh)

    # accept, arrive, note, photos, resolve on c1; return c2: one batch, built offline.
    before_bytes, after_bytes = jpeg(11), jpeg(12)
    photo = {
        "content_type": "image/jpeg",
        "lat": c1["lat"],
        "lon": c1["lon"],
        "accuracy_m": 4.0,
        "case_id": c1["id"],
        "device_id": device_id,
    }
    before = upload(
        api,
        worker,
        {
            **photo,
            "kind": "before",
            "heading": 45.0,
            "taken_at": "2026-11-23T09:40:00+08:00",
            "sha256": hashlib.sha256(before_bytes).hexdigest(),
            "size": len(before_bytes),
        },
        before_bytes,
    )
    after = upload(
        api,
        worker,
        {
            **photo,
            "kind": "after",
            "heading": 50.0,
            "taken_at": "2026-11-23T10:40:00+08:00",
            "before_id": before,
            "sha256": hashlib.sha256(after_bytes).hexdigest(),
            "size": len(after_bytes),
        },
        after_bytes,
    )
    batch = [
        mutation(c1, "accept"),
        mutation(c1, "arrive"),
        mutation(c1, "note", {"text": "pipe replaced"}),
        mutation(c1, "resolve", {"note": "fixed", "photo_ids": [before, after]}),
        mutation(c2, "return", {"reason": "this belongs to the water company"}),
    ]
    results = push(api, worker, device_id, batch)
    assert [x["status"] for x in results] == ["applied"] * 5, results
    assert results[3]["case"]["status"] == "resolved" and len(results[3]["case"]["photos"]) == 2
    # Replayed after a lost answer: the stored results, unchanged.
    replay = push(api, worker, device_id, batch)
    assert [x["status"] for x in replay] == ["duplicate"] * 5
    assert [x.get("case") for x in replay] == [x.get("case") for x in results]

    # The office touches c3; the phone's accept built on the old version conflicts.
    r = api.post(f"/cases/{c3['id']}/note", headers=agent, json={"payload": {"text": "citizen called"}})
    assert r.status_code == 200
    (stale,) = push(api, worker, device_id, [mutation(c3, "accept")])
    assert stale["status"] == "conflict" and stale["case"]["version"] == c3["version"] + 1
    (forbidden,) = push(
        api, worker, device_id, [mutation(stale["case"], "resolve", {"note": "x", "photo_ids": []})]
    )
    assert forbidden["status"] == "rejected" and forbidden["code"] == "invalid_transition"

    # A case found on patrol.
    found_id = str(uuid.uuid4())
    report = mutation(
        {"id": found_id, "version": 0, "lat": spot["lat"], "lon": spot["lon"]},
        "report",
        {
            "category": "city_appearance",
            "type": "complaint",
            "description": "Graffiti on the wall",
            "lat": spot["lat"],
            "lon": spot["lon"],
            "address": "by the bus stop",
        },
    )
    (applied,) = push(api, worker, device_id, [report])
    assert applied["status"] == "applied", applied
    pulled, tombstones, cursor = pull_all(api, worker, device_id, cursor)
    assert re.fullmatch(r"\d{4}-\d{6}", pulled[found_id]["ticket"])
    assert pulled[found_id]["events"][0]["mutation_id"] == report["id"]
    assert pulled[c1["id"]]["events"][-1]["mutation_id"] == batch[3]["id"]

    # Another worker's phone cannot touch worker1's cases.
    other = login(api, "worker2")
    device2 = api.post(
        "/devices", headers=other, json={"name": "w2", "platform": "ios", "app_version": "3.2.0"}
    )
    (refused,) = push(
        api, other, device2.json()["device_id"], [mutation(stale["case"], "note", {"text": "hi"})]
    )
    assert refused["status"] == "rejected" and refused["code"] == "case_not_found"


def test_openapi_documents_the_contract(api):
    spec = api.get("/schema/openapi.json").json()
    for path in ("/auth/login", "/devices", "/sync/pull", "/sync/push", "/photos/slots"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert set(schemas["PullResponse"]["required"]) == {"cases", "tombstones", "cursor", "has_more"}
    assert set(schemas["CaseOut"]["required"]) >= CASE_FIELDS
    mutation_schema = schemas["PushRequest"]["properties"]["mutations"]["items"]
    assert {"id", "case_id", "base_version", "action"} <= set(mutation_schema["required"])
    assert set(mutation_schema["properties"]["action"]["enum"]) == {
        "accept",
        "arrive",
        "note",
        "return",
        "resolve",
        "report",
    }
    assert schemas["ErrorBody"]["required"] == ["code", "message"]
    page = api.get("/schema")
    assert page.status_code == 200
    external = [u for u in re.findall(r"(?:src|href)=[\"']([^\"']+)", page.text) if not u.startswith("/")]
    assert external == [], "the docs page must load nothing from outside this server"
