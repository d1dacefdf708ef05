"""Photo slots and uploads, and resolving a case on a handheld with same-angle before/after photos."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from server.app import create_app
from server.settings import Settings
from server.tables import District, Photo
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


async def test_knowing_a_hash_grants_neither_the_photo_nor_a_free_slot(client, world: World, login, device):
    _, headers, _, case = await _on_site(client, world, login, device)
    data = jpeg(20)
    photo = await upload_photo(client, headers, photo_slot("before", data, case_id=case["id"]), data)
    outsider = await login("worker2")  # works cell_b: does not see the case in cell_a
    r = await client.post("/photos/slots", headers=outsider, json=photo_slot("evidence", data))
    assert r.status_code == 201, r.text
    slot = r.json()
    assert slot["upload"] == {
        "method": "PUT",
        "url": f"/photos/{slot['photo_id']}/content",
        "finish_url": None,
    }
    r = await client.post(f"/photos/{slot['photo_id']}/finish", headers=outsider)
    assert r.status_code == 409 and r.json()["code"] == "photo_not_uploaded"
    for path in (f"/photos/{slot['photo_id']}", f"/photos/{slot['photo_id']}/thumbnail", f"/photos/{photo}"):
        r = await client.get(path, headers=outsider)
        assert r.status_code == 404 and r.json()["code"] == "photo_not_found", (path, r.text)
    # Sending bytes proves having them: the wrong ones are refused, the right ones accepted.
    r = await client.put(f"/photos/{slot['photo_id']}/content", headers=outsider, content=jpeg(21))
    assert r.status_code == 400
    assert (await client.get(f"/photos/{slot['photo_id']}", headers=outsider)).status_code == 404
    r = await client.put(f"/photos/{slot['photo_id']}/content", headers=outsider, content=data)
    assert r.status_code == 204, r.text
    r = await client.get(f"/photos/{slot['photo_id']}", headers=outsider)
    assert r.status_code == 200 and r.content == data
    assert (await client.get(f"/photos/{photo}", headers=outsider)).status_code == 404


async def test_someone_who_sees_the_photo_reuses_its_bytes(client, world: World, login, device):
    agent, headers, _, case = await _on_site(client, world, login, device)
    data = jpeg(22)
    await upload_photo(client, headers, photo_slot("before", data, case_id=case["id"]), data)
    r = await client.post("/photos/slots", headers=agent, json=photo_slot("evidence", data))
    assert r.status_code == 201 and r.json()["upload"] is None
    r = await client.get(f"/photos/{r.json()['photo_id']}/thumbnail", headers=agent)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


async def test_a_photo_on_no_case_yet_is_served_to_its_uploader_only(client, world: World, login, device):
    agent, headers, _, _ = await _on_site(client, world, login, device)
    data = jpeg(23)
    photo = await upload_photo(client, headers, photo_slot("evidence", data), data)
    assert (await client.get(f"/photos/{photo}", headers=headers)).content == data
    for path in (f"/photos/{photo}", f"/photos/{photo}/thumbnail"):
        r = await client.get(path, headers=agent)
        assert r.status_code == 404 and r.json()["code"] == "photo_not_found"
    # Nor does the agent get its bytes for free: they would then be theirs to download.
    r = await client.post("/photos/slots", headers=agent, json=photo_slot("evidence", data))
    assert r.json()["upload"] is not None


async def test_concurrent_retries_of_one_slot_all_get_that_slot(client, world: World, login, device):
    _, headers, _, case = await _on_site(client, world, login, device)
    for attempt in range(6):
        body = photo_slot("evidence", jpeg(40 + attempt), case_id=case["id"], id=str(uuid.uuid4()))
        answers = await asyncio.gather(
            *(client.post("/photos/slots", headers=headers, json=body) for _ in range(10))
        )
        assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers]
        assert {r.json()["photo_id"] for r in answers} == {body["id"]}
        assert {r.json()["upload"]["url"] for r in answers} == {f"/photos/{body['id']}/content"}
        assert await Photo.count().where(Photo.id == body["id"]) == 1


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


async def _resolve_with(client, headers, device_id, case, after_bytes: bytes, **after_fields) -> dict:
    """Upload a before photo and an after photo (`after_fields` override its slot), then resolve."""
    before_bytes = jpeg(50)
    before = await upload_photo(
        client, headers, photo_slot("before", before_bytes, case_id=case["id"]), before_bytes
    )
    slot = photo_slot(
        "after",
        after_bytes,
        case_id=case["id"],
        before_id=before,
        taken_at="2026-11-23T10:00:00+08:00",
        **after_fields,
    )
    after = await upload_photo(client, headers, slot, after_bytes)
    (result,) = await push(
        client,
        headers,
        device_id,
        [mutation(case, "resolve", {"note": "done", "photo_ids": [before, after]})],
    )
    return result


async def test_an_after_photo_with_the_bytes_of_its_before_does_not_resolve(
    client, world: World, login, device
):
    _, headers, device_id, case = await _on_site(client, world, login, device)
    result = await _resolve_with(client, headers, device_id, case, jpeg(50))
    assert result["status"] == "rejected" and result["code"] == "photos_not_same_angle", result
    assert "very image" in result["message"]


async def test_a_claimed_accuracy_of_10_000_km_does_not_pass_a_photo_55_km_away(
    client, world: World, login, device
):
    _, headers, device_id, case = await _on_site(client, world, login, device)
    result = await _resolve_with(client, headers, device_id, case, jpeg(51), lat=31.7251, accuracy_m=1e7)
    assert result["status"] == "rejected" and result["code"] == "photos_not_same_angle", result
    assert "located to 10000000 m" in result["message"] and "km" not in result["message"]


async def test_same_angle_limits_are_set_per_district(client, world: World, login, device):
    _, headers, device_id, case = await _on_site(client, world, login, device)
    await District.update({District.same_angle: {"max_distance_m": 100.0}}).where(
        District.id == world.district_id
    )
    # About 78 m north of the before photo: too far by default (30 m + 6 m of reported accuracy).
    result = await _resolve_with(client, headers, device_id, case, jpeg(52), lat=31.2258)
    assert result["status"] == "applied", result


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

        # Someone who does not see the case gets a presigned URL too, and finishing without
        # having sent the bytes gets them nothing.
        outsider = await login("worker2")
        r = await minio_api.post("/photos/slots", headers=outsider, json=photo_slot("evidence", data))
        slot = r.json()
        assert slot["upload"]["finish_url"] == f"/photos/{slot['photo_id']}/finish"
        r = await minio_api.post(slot["upload"]["finish_url"], headers=outsider)
        assert r.status_code == 409 and r.json()["code"] == "photo_not_uploaded"
        assert (await minio_api.get(f"/photos/{slot['photo_id']}", headers=outsider)).status_code == 404
