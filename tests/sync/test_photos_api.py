"""Photo slots and uploads, and resolving a case on a handheld with same-angle before/after photos."""

from __future__ import annotations

import uuid

import httpx

from server.app import create_app
from server.settings import Settings
from tests.support import World, jpeg, new_case, photo_slot, upload_photo
from tests.sync.test_sync_api import mutation, push


async def _on_site(client, world, login, device):
    agent = await login("agent")
    case = await new_case(client, agent, world, dispatch_to="street")
    headers, device_id = await device("worker1")
    results = await push(client, headers, device_id, [mutation(case, "accept"), mutation(case, "arrive")])
    return agent, headers, device_id, results[-1]["case"]


async def test_resolve_with_same_angle_photos_from_the_phone(client, world: World, login, device):
    agent, headers, device_id, case = await _on_site(client, world, login, device)
    before_bytes, after_bytes = jpeg(1), jpeg(2)
    before = await upload_photo(
        client,
        headers,
        photo_slot("before", before_bytes, case_id=case["id"], device_id=device_id),
        before_bytes,
    )
    after = await upload_photo(
        client,
        headers,
        photo_slot(
            "after",
            after_bytes,
            case_id=case["id"],
            before_id=before,
            heading=100.0,
            taken_at="2026-11-23T10:00:00+08:00",
        ),
        after_bytes,
    )
    (result,) = await push(
        client,
        headers,
        device_id,
        [mutation(case, "resolve", {"note": "cleared", "photo_ids": [before, after]})],
    )
    assert result["status"] == "applied", result
    resolved = result["case"]
    assert resolved["status"] == "resolved"
    assert {p["id"]: p["kind"] for p in resolved["photos"]} == {before: "before", after: "after"}
    r = await client.get(f"/photos/{after}", headers=agent)
    assert r.status_code == 200 and r.content == after_bytes
    r = await client.get(f"/photos/{after}/thumbnail", headers=agent)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


async def test_same_bytes_again_cost_nothing(client, world: World, login, device):
    _, headers, _, case = await _on_site(client, world, login, device)
    data = jpeg(3)
    await upload_photo(client, headers, photo_slot("evidence", data, case_id=case["id"]), data)
    r = await client.post(
        "/photos/slots", headers=headers, json=photo_slot("evidence", data, case_id=case["id"])
    )
    assert r.status_code == 201 and r.json()["upload"] is None


async def test_after_photo_from_another_angle_does_not_resolve(client, world: World, login, device):
    _, headers, device_id, case = await _on_site(client, world, login, device)
    b, a = jpeg(4), jpeg(5)
    before = await upload_photo(client, headers, photo_slot("before", b, case_id=case["id"]), b)
    after = await upload_photo(
        client,
        headers,
        photo_slot(
            "after",
            a,
            case_id=case["id"],
            before_id=before,
            heading=200.0,
            taken_at="2026-11-23T10:00:00+08:00",
        ),
        a,
    )
    (result,) = await push(
        client,
        headers,
        device_id,
        [mutation(case, "resolve", {"note": "done", "photo_ids": [before, after]})],
    )
    assert result["status"] == "rejected" and result["code"] == "photos_not_same_angle"


async def test_bad_uploads_are_refused_and_leave_nothing_stored(client, world: World, login, device):
    agent, headers, _, case = await _on_site(client, world, login, device)
    text = b"this is not a picture at all"
    r = await client.post(
        "/photos/slots", headers=headers, json=photo_slot("before", text, case_id=case["id"])
    )
    photo_id = r.json()["photo_id"]
    r = await client.put(f"/photos/{photo_id}/content", headers=headers, content=text)
    assert r.status_code == 415 and r.json()["code"] == "photo_not_image"
    r = await client.get(f"/photos/{photo_id}", headers=agent)
    assert r.status_code == 404

    data = jpeg(6)
    r = await client.post(
        "/photos/slots", headers=headers, json=photo_slot("before", data, case_id=case["id"])
    )
    photo_id = r.json()["photo_id"]
    r = await client.put(f"/photos/{photo_id}/content", headers=headers, content=jpeg(7))
    assert r.status_code == 400 and r.json()["code"] in ("photo_hash_mismatch", "photo_size_mismatch")

    for slot, status, code in (
        (photo_slot("before", data, lat=91.0), 422, "gps_out_of_range"),
        ({**photo_slot("before", data), "size": 10**9}, 413, "photo_too_large"),
        ({**photo_slot("before", data), "content_type": "image/gif"}, 415, "unsupported_photo_type"),
        ({**photo_slot("before", data), "sha256": "abc"}, 400, None),
        (photo_slot("after", data), 422, "invalid_payload"),
    ):
        r = await client.post("/photos/slots", headers=headers, json=slot)
        assert r.status_code == status, (slot, r.text)
        assert code is None or r.json()["code"] == code


async def test_presigned_upload_to_minio_then_finish(
    world: World, login, device, client, moto_endpoint, tmp_path
):
    """Production photo storage: the phone PUTs to a presigned MinIO URL, the server checks on finish."""
    settings = Settings(
        photo_store="minio",
        minio_endpoint=moto_endpoint,
        minio_access_key="test",
        minio_secret_key="test",
        minio_bucket=f"photos-{uuid.uuid4().hex[:8]}",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gridcase.test"
    ) as minio_api:
        _, headers, _, case = await _on_site(client, world, login, device)
        data = jpeg(8)
        r = await minio_api.post(
            "/photos/slots", headers=headers, json=photo_slot("before", data, case_id=case["id"])
        )
        assert r.status_code == 201, r.text
        slot = r.json()
        assert slot["upload"]["url"].startswith(f"http://{moto_endpoint}/")
        async with httpx.AsyncClient() as phone:
            assert (await phone.put(slot["upload"]["url"], content=data)).status_code == 200
        r = await minio_api.post(slot["upload"]["finish_url"], headers=headers)
        assert r.status_code == 204, r.text
        r = await minio_api.get(f"/photos/{slot['photo_id']}", headers=headers)
        assert r.content == data
        r = await minio_api.post(
            "/photos/slots", headers=headers, json=photo_slot("before", data, case_id=case["id"])
        )
        assert r.json()["upload"] is None
