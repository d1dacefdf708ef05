"""Point → cell → unit and workers: inside, on shared edges and corners, outside; via the API too."""

from __future__ import annotations

import msgspec

from geo.assign import locate, locate_many, nearest_cell
from geo.importer import export_grids, import_grids
from server.tables import Grid
from tests.geo.conftest import bare_world
from tests.geo.support import box, feature
from tests.support import World


async def covering(world: World, lat: float, lon: float) -> list[str]:
    rows = await Grid.raw(
        "SELECT code FROM grids WHERE district_id = {} AND level = 'cell' "
        "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint({}, {}), 4326)) ORDER BY code",
        world.district_id,
        lon,
        lat,
    )
    return [r["code"] for r in rows]


async def inner_point(world: World, code: str) -> tuple[float, float]:
    row = (
        await Grid.raw(
            "SELECT ST_Y(p) AS lat, ST_X(p) AS lon FROM (SELECT ST_PointOnSurface(geom) AS p "
            "FROM grids WHERE district_id = {} AND code = {}) s",
            world.district_id,
            code,
        )
    )[0]
    return row["lat"], row["lon"]


async def test_a_point_inside_a_cell_gives_the_cell_its_unit_and_workers(world: World):
    lat, lon = await inner_point(world, "D1-S1-C1-04")
    placement = await locate(world.district_id, lat, lon)
    assert placement is not None
    assert (placement.grid_id, placement.grid_code) == (world.grids["D1-S1-C1-04"], "D1-S1-C1-04")
    assert placement.unit_id == world.units["street-1"]
    assert placement.worker_ids == (world.users["worker1"],)
    lat, lon = await inner_point(world, "D1-S2-C2-01")
    placement = await locate(world.district_id, lat, lon)
    assert placement.grid_code == "D1-S2-C2-01" and placement.unit_id == world.units["street-2"]
    assert placement.worker_ids == ()


async def test_shared_corners_are_decided_by_the_smallest_code(world: World):
    feature = next(f for f in (await _demo_cells(world)) if f["properties"]["code"] == "D1-S1-C1-05")
    ring = feature["geometry"]["coordinates"][0][0]
    for lon, lat in ring[:-1]:
        candidates = await covering(world, lat, lon)
        assert len(candidates) >= 2, "a lattice vertex inside the district is shared"
        placement = await locate(world.district_id, lat, lon)
        assert placement.grid_code == min(candidates)


async def _demo_cells(world: World) -> list[dict]:
    return (await export_grids(world.district_id, "cell"))["features"]


async def test_shared_edge_tie_break_ignores_ids_and_file_order(client):
    world = await bare_world()
    # Two cells sharing the edge lon = 121.51; "b-west" is stored first, so it has the smaller id.
    features = [
        feature("D", "district", None, box(121.49, 31.29, 121.53, 31.33), unit=None),
        feature("S", "street", "D", box(121.49, 31.29, 121.53, 31.33)),
        feature("C", "community", "S", box(121.50, 31.30, 121.52, 31.31)),
        feature("b-west", "cell", "C", box(121.50, 31.30, 121.51, 31.31)),
        feature("a-east", "cell", "C", box(121.51, 31.30, 121.52, 31.31)),
    ]
    report = await import_grids(
        world.district_id, msgspec.json.encode({"type": "FeatureCollection", "features": features})
    )
    assert report.committed, report.problems
    ids = {
        r["code"]: r["id"]
        for r in await Grid.select(Grid.code, Grid.id).where(Grid.district_id == world.district_id)
    }
    assert ids["b-west"] < ids["a-east"]
    on_edge = (31.305, 121.51)
    assert await covering(world, *on_edge) == ["a-east", "b-west"]
    assert (await locate(world.district_id, *on_edge)).grid_code == "a-east"
    # The same answer every time and in a batch, and just off the edge each side wins its own point.
    batch = await locate_many(
        world.district_id, [on_edge, on_edge, (31.305, 121.5099999), (31.305, 121.5100001)]
    )
    assert [p.grid_code for p in batch] == ["a-east", "a-east", "b-west", "a-east"]


async def test_points_outside_every_cell_get_a_clear_answer(world: World, client, login):
    assert await locate(world.district_id, 39.9, 116.4) is None
    assert await locate(world.district_id, 0.0, 0.0) is None
    nearest = await nearest_cell(world.district_id, 31.2300, 121.4400)
    assert nearest is not None and nearest.grid_code.startswith("D1-S1-") and 900 < nearest.distance_m < 1100
    inside, outside, far = await locate_many(
        world.district_id, [await inner_point(world, "D1-S1-C1-01"), (31.23, 121.44), (-89.9, 179.9)]
    )
    assert inside.grid_code == "D1-S1-C1-01" and outside is None and far is None
    agent = await login("agent")
    r = await client.get("/map/locate", headers=agent, params={"lat": 31.23, "lon": 121.44})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["inside"] is False and body["grid_id"] is None
    assert body["nearest"]["grid_code"] == nearest.grid_code
    lat, lon = await inner_point(world, "D1-S2-C1-03")
    r = await client.get("/map/locate", headers=agent, params={"lat": lat, "lon": lon})
    assert r.json() == {
        "inside": True,
        "grid_id": world.grids["D1-S2-C1-03"],
        "grid_code": "D1-S2-C1-03",
        "unit_id": world.units["street-2"],
        "worker_ids": [world.users["worker2"]],
        "nearest": None,
    }
    r = await client.get("/map/locate", headers=agent, params={"lat": 95, "lon": 121.4})
    assert r.status_code == 400 and r.json()["code"] and r.json().get("field") == "lat", r.text
    # Registering a case outside every cell works; it simply has no cell.
    r = await client.post(
        "/cases",
        headers=agent,
        json={"type": "complaint", "description": "Far away", "lat": 31.23, "lon": 121.44},
    )
    assert r.status_code == 201, r.text
    assert r.json()["grid_id"] is None


async def test_registration_places_the_case_in_its_cell(world: World, client, login):
    lat, lon = await inner_point(world, "D1-S1-C1-02")
    r = await client.post(
        "/cases",
        headers=await login("agent"),
        json={"type": "complaint", "description": "Broken lamp", "lat": lat, "lon": lon},
    )
    assert r.status_code == 201, r.text
    assert r.json()["grid_id"] == world.grids["D1-S1-C1-02"]
    # worker1 owns the cell, so the case is in their scope; worker2's is elsewhere.
    assert (await client.get(f"/cases/{r.json()['id']}", headers=await login("worker1"))).status_code == 200
    assert (await client.get(f"/cases/{r.json()['id']}", headers=await login("worker2"))).status_code == 404
