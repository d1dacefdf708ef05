"""Map queries: grid outlines and case points as RFC 7946 GeoJSON, per-cell counts, lights in SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from geo.mapping import tolerance_for_zoom
from server.tables import Case
from tests.geo.support import inside
from tests.geo.test_import import assert_rfc7946_polygons
from tests.support import World


async def test_grids_come_as_rfc7946_feature_collections(world: World, client, login):
    agent = await login("agent")
    r = await client.get("/map/grids", headers=agent, params={"level": "cell", "zoom": 16})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["level"] == "cell" and body["zoom"] == 16
    assert body["tolerance_deg"] == tolerance_for_zoom(16)
    assert len(body["features"]) == 36
    for f in body["features"]:
        assert (
            f["type"] == "Feature"
            and f["id"] == f["properties"]["id"] == world.grids[f["properties"]["code"]]
        )
        assert f["properties"]["level"] == "cell" and f["properties"]["area_m2"] > 0
        assert_rfc7946_polygons(f["geometry"])
    r = await client.get("/map/grids", headers=agent, params={"level": "community", "zoom": 8})
    coarse = r.json()["features"]
    assert len(coarse) == 6
    for f in coarse:
        assert_rfc7946_polygons(f["geometry"])
    fine = (await client.get("/map/grids", headers=agent, params={"level": "community", "zoom": 18})).json()
    vertices = [
        sum(len(ring) for ring in f["geometry"]["coordinates"][0])
        for f in (coarse, fine["features"])
        for f in f
    ]
    assert sum(vertices[:6]) < sum(vertices[6:]), "a far zoom simplifies the outlines"
    for params, field in (({"level": "block"}, "level"), ({"zoom": 23}, "zoom"), ({"zoom": "x"}, "zoom")):
        r = await client.get("/map/grids", headers=agent, params=params)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    for name in ("worker1", "evaluator1"):
        r = await client.get("/map/grids", headers=await login(name))
        assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    # A unit leader's console shows the district's grids.
    assert (await client.get("/map/grids", headers=await login("leader1"))).status_code == 200


async def register(client, headers, world: World, lat: float, lon: float, **fields) -> dict:
    r = await client.post(
        "/cases",
        headers=headers,
        json={
            "type": "complaint",
            "description": "Pothole",
            "category_id": world.categories["municipal"],
            "lat": lat,
            "lon": lon,
            **fields,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_cases_in_a_bounding_box_are_points_in_lon_lat_order(world: World, client, login):
    admin = await login("admin")
    a = await register(client, admin, world, 31.2201, 121.4561)
    b = await register(client, admin, world, 31.2402, 121.4802)
    outside = await register(client, admin, world, 31.3000, 121.6000)
    r = await client.get("/map/cases", headers=admin, params={"bbox": "121.45,31.215,121.49,31.245"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["truncated"] is False
    assert body["bbox"] == [121.45, 31.215, 121.49, 31.245]
    features = {f["id"]: f for f in body["features"]}
    assert set(features) == {a["id"], b["id"]}
    for case in (a, b):
        f = features[case["id"]]
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        assert f["geometry"]["coordinates"] == [case["lon"], case["lat"]]
        assert f["properties"]["ticket"] == case["ticket"] and f["properties"]["status"] == "registered"
        assert f["properties"]["light"] == case["light"] and f["properties"]["grid_id"] == case["grid_id"]
    r = await client.get(
        "/map/cases", headers=admin, params={"bbox": "121.45,31.215,121.49,31.245", "limit": 1}
    )
    assert r.json()["truncated"] is True and [f["id"] for f in r.json()["features"]] == [b["id"]]
    # A box across the antimeridian (west > east) reaches from 179° E round to 121.5° E.
    r = await client.get("/map/cases", headers=admin, params={"bbox": "179,31.2,121.5,31.25"})
    assert {f["id"] for f in r.json()["features"]} == {a["id"], b["id"]}
    assert outside["id"] not in {f["id"] for f in r.json()["features"]}
    for bad in ("121,31,122", "a,b,c,d", "121,32,122,31", "121,31,200,32", "121,-91,122,31", ""):
        r = await client.get("/map/cases", headers=admin, params={"bbox": bad})
        assert r.status_code == 400 and r.json()["code"] in ("invalid_bbox", "invalid_value"), (bad, r.text)
    r = await client.get("/map/cases", headers=admin)
    assert r.status_code == 400 and "bbox" in r.json()["message"]
    r = await client.get("/map/cases", headers=await login("squad1"), params={"bbox": "121,31,122,32"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden_role"


async def test_cell_counts_split_open_cases_by_light(world: World, client, login):
    admin = await login("admin")
    cell = world.grids["D1-S1-C1-01"]
    point = await inside(cell)
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    plans = {  # status, due_at, warn_at, resolved_at
        "green": ("registered", None, None, None),
        "green2": ("dispatched", now + 5 * hour, now + 2 * hour, None),
        "yellow": ("accepted", now + hour, now - hour, None),
        "red": ("on_site", now - hour, now - 2 * hour, None),
        "resolved": ("resolved", now - hour, now - 2 * hour, now - 3 * hour),
        "closed": ("closed", now - hour, now - 2 * hour, None),
    }
    ids = {}
    for name, (status, due, warn, resolved) in plans.items():
        case = await register(client, admin, world, point["lat"], point["lon"])
        ids[name] = case["id"]
        await Case.raw(
            "UPDATE cases SET status = {}, due_at = {}, warn_at = {}, resolved_at = {} WHERE id = {}",
            status,
            due,
            warn,
            resolved,
            uuid.UUID(case["id"]),
        )
    r = await client.get("/map/cells/counts", headers=admin)
    assert r.status_code == 200, r.text
    cells = {c["grid_id"]: c for c in r.json()["cells"]}
    assert len(cells) == 36
    assert cells[cell] == {
        "grid_id": cell,
        "code": "D1-S1-C1-01",
        "name": "Cell 1 of D1-S1-C1",
        "open": 4,
        "overdue": 1,
        "green": 2,
        "yellow": 1,
        "red": 1,
    }
    assert all(c["open"] == 0 for g, c in cells.items() if g != cell)
    # The map's lights are the Python rule's, case by case (the resolved one is judged when resolved).
    features = (
        await client.get("/map/cases", headers=admin, params={"bbox": "121.4,31.2,121.5,31.3"})
    ).json()
    lights = {f["id"]: f["properties"]["light"] for f in features["features"]}
    for name, case_id in ids.items():
        python = (await client.get(f"/cases/{case_id}", headers=admin)).json()["light"]
        assert lights[case_id] == python, name
    assert lights[ids["resolved"]] == "green" and lights[ids["red"]] == "red"
