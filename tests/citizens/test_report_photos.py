"""Photos on a citizen's report (issue 15 item 3): up to three, sent from /report with the receipt's
lookup code, checked like every upload, and shown to staff with the case."""

from __future__ import annotations

import asyncio
import hashlib

from server.db import fetch
from tests.support import CELL_POINTS, World, jpeg


async def web_report(public, world: World, district_code: str) -> dict:
    lat, lon = CELL_POINTS["cell_a"]
    body = {"category_id": world.categories["municipal"], "description": "A pothole", "lat": lat, "lon": lon}
    r = await public.post("/report", params={"district": district_code}, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def send(public, receipt: dict, district_code: str, data: bytes, **overrides):
    params = {
        "district": district_code,
        "code": receipt["lookup_code"],
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    params.update(overrides.pop("params", {}))
    headers = {"content-type": overrides.pop("content_type", "image/jpeg")}
    return await public.put(
        f"/report/{receipt['ticket']}/photos", params=params, content=data, headers=headers
    )


async def test_a_report_takes_three_photos_that_staff_see_and_no_fourth(
    client, public, world, login, district_code
):
    receipt = await web_report(public, world, district_code)
    photos = [jpeg(seed) for seed in range(4)]
    answers = await asyncio.gather(*[send(public, receipt, district_code, p) for p in photos])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201, 201, 201, 409], [r.text for r in answers]
    assert [r.json()["code"] for r in answers if r.status_code == 409] == ["too_many_photos"]
    agent = await login("agent")
    listed = (await client.get("/cases", headers=agent, params={"q": receipt["ticket"]})).json()["items"]
    case = (await client.get(f"/cases/{listed[0]['id']}", headers=agent)).json()
    stored = {p["sha256"] for p in case["photos"]}
    assert len(stored) == 3 and stored <= {hashlib.sha256(p).hexdigest() for p in photos}
    assert {p["kind"] for p in case["photos"]} == {"evidence"}
    # Staff open the photo and its thumbnail; the bytes are the citizen's.
    first = next(a.json()["photo_id"] for a in answers if a.status_code == 201)
    r = await client.get(f"/photos/{first}", headers=agent)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() in stored
    assert (await client.get(f"/photos/{first}/thumbnail", headers=agent)).status_code == 200


async def test_a_bad_photo_is_refused_with_a_code_and_stores_nothing(public, world, district_code):
    receipt = await web_report(public, world, district_code)
    good = jpeg(7)
    cases = [
        ({"content_type": "text/plain"}, b"just some text, not a photo", 415),
        ({}, b"not a jpeg at all, only words" * 10, 415),
        ({"params": {"sha256": "0" * 64}}, good, 400),
        ({"params": {"sha256": "xyz"}}, good, 400),
        ({"params": {"code": "00000000"}}, good, 404),
        ({"content_type": "image/png"}, good, 415),
    ]
    for overrides, data, status in cases:
        r = await send(public, receipt, district_code, data, **overrides)
        assert r.status_code == status, (overrides, r.text)
        assert r.json()["code"] and r.json()["message"]
    rows = await fetch(
        "SELECT count(*) AS n FROM photos p JOIN cases c ON c.id = p.case_id WHERE c.ticket = {} "
        "AND c.district_id = {}",
        receipt["ticket"],
        world.district_id,
    )
    assert rows[0]["n"] == 0
