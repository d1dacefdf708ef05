"""Grid import from GeoJSON against PostGIS: valid, invalid, repaired, overlaps, gaps, re-import, export."""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from typing import Any

import msgspec
import pytest

from geo.cli import add_arguments, grids_command
from geo.importer import export_grids, import_grids
from server.db import fetch, transaction
from server.settings import ROOT
from server.tables import Grid, GridWorker
from tests.geo.conftest import bare_world, demo_file
from tests.geo.support import box, feature
from tests.support import World


def collection(*cells: dict[str, Any], community: list[list[float]] | None = None) -> bytes:
    """A district D ⊃ street S ⊃ community C (121.50–121.52 E, 31.30–31.31 N) and the given cells."""
    top = [
        feature("D", "district", None, box(121.49, 31.29, 121.53, 31.33), unit=None),
        feature("S", "street", "D", box(121.49, 31.29, 121.53, 31.33)),
        feature("C", "community", "S", community or box(121.50, 31.30, 121.52, 31.31)),
    ]
    return msgspec.json.encode({"type": "FeatureCollection", "features": top + list(cells)})


async def area_m2(wkt: str) -> float:
    rows = await Grid.raw("SELECT ST_Area(ST_GeomFromText({}, 4326)::geography) AS a", wkt)
    return rows[0]["a"]


def envelope(west: float, south: float, east: float, north: float) -> str:
    return f"POLYGON(({west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}))"


@pytest.fixture
async def bare(client) -> World:
    return await bare_world()


async def grid_count(world: World) -> int:
    return await Grid.count().where(Grid.district_id == world.district_id)


def kinds(report) -> set[tuple[str, str, str | None]]:
    return {(p.severity, p.kind, p.code) for p in report.problems}


async def test_valid_import_stores_the_tree(world: World):
    rows = await Grid.raw(
        "SELECT g.code, g.level, p.code AS parent, p.level AS parent_level, u.code AS unit, g.area_m2, "
        "ST_Area(g.geom::geography) AS real_area, ST_IsValid(g.geom) AS valid, GeometryType(g.geom) AS type "
        "FROM grids g LEFT JOIN grids p ON p.id = g.parent_id LEFT JOIN units u ON u.id = g.unit_id "
        "WHERE g.district_id = {}",
        world.district_id,
    )
    by_level: dict[str, int] = {}
    for r in rows:
        by_level[r["level"]] = by_level.get(r["level"], 0) + 1
        assert r["valid"] and r["type"] == "MULTIPOLYGON"
        assert r["area_m2"] == pytest.approx(r["real_area"]) and r["area_m2"] > 0
    assert by_level == {"city": 1, "district": 1, "street": 2, "community": 6, "cell": 36}
    cells = [r for r in rows if r["level"] == "cell"]
    assert all(r["parent_level"] == "community" for r in cells)
    assert {r["unit"] for r in cells if r["code"].startswith("D1-S1")} == {"street-1"}
    assert {r["unit"] for r in cells if r["code"].startswith("D1-S2")} == {"street-2"}
    owned = await GridWorker.count().where(GridWorker.user_id == world.users["worker1"])
    assert owned == 6


async def snapshot(world: World) -> tuple[list, list]:
    """Row ids with their creating transaction: any write to a row changes its xmin."""
    grids = await Grid.raw(
        "SELECT id, code, xmin::text AS x FROM grids WHERE district_id = {} ORDER BY id", world.district_id
    )
    workers = await Grid.raw(
        "SELECT id, grid_id, user_id, xmin::text AS x FROM grid_workers WHERE district_id = {} ORDER BY id",
        world.district_id,
    )
    return grids, workers


async def test_reimporting_the_same_file_changes_nothing(world: World):
    before = await snapshot(world)
    report = await import_grids(world.district_id, msgspec.json.encode(demo_file(world)))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 0, 46, 0)
    assert report.committed and report.problems == []
    assert await snapshot(world) == before


async def test_a_changed_file_updates_in_place(world: World):
    ids_before = dict(world.grids)
    changed = demo_file(world)
    props = {f["properties"]["code"]: f["properties"] for f in changed["features"]}
    props["D1-S1-C1-01"]["name"] = "Renamed cell"
    props["D1-S1-C1-02"]["workers"] = []
    props["D1-S1-C2-01"]["workers"] = [world.usernames["worker1"]]
    props["D1-S2-C3-06"]["unit"] = "bureau"
    report = await import_grids(world.district_id, msgspec.json.encode(changed))
    assert (report.created, report.updated, report.unchanged) == (0, 4, 42), report
    rows = {
        r["code"]: r
        for r in await Grid.raw(
            "SELECT g.id, g.code, g.name, u.code AS unit, "
            "array(SELECT user_id FROM grid_workers w WHERE w.grid_id = g.id) AS workers "
            "FROM grids g LEFT JOIN units u ON u.id = g.unit_id WHERE g.district_id = {}",
            world.district_id,
        )
    }
    assert {c: r["id"] for c, r in rows.items()} == ids_before
    assert rows["D1-S1-C1-01"]["name"] == "Renamed cell"
    assert rows["D1-S1-C1-02"]["workers"] == []
    assert rows["D1-S1-C2-01"]["workers"] == [world.users["worker1"]]
    assert rows["D1-S2-C3-06"]["unit"] == "bureau"


def ring_area(ring: list[list[float]]) -> float:
    """Shoelace: positive for a counter-clockwise ring."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False)) / 2


def assert_rfc7946_polygons(geometry: dict) -> None:
    assert geometry["type"] == "MultiPolygon"
    for polygon in geometry["coordinates"]:
        for k, ring in enumerate(polygon):
            assert len(ring) >= 4 and ring[0] == ring[-1], "rings are closed"
            assert all(121 < lon < 122 and 31 < lat < 32 for lon, lat in ring), "positions are [lon, lat]"
            assert (ring_area(ring) > 0) == (k == 0), "exterior counter-clockwise, holes clockwise"


async def test_export_gives_back_the_same_geojson(world: World):
    exported = await export_grids(world.district_id)
    original = {f["properties"]["code"]: f for f in demo_file(world)["features"]}
    assert [f["properties"]["code"] for f in exported["features"]][:4] == ["city", "D1", "D1-S1", "D1-S2"]
    assert {f["properties"]["code"] for f in exported["features"]} == set(original)
    for f in exported["features"]:
        code = f["properties"]["code"]
        assert f["properties"] == original[code]["properties"]
        assert_rfc7946_polygons(f["geometry"])
        assert f["geometry"]["coordinates"] == [original[code]["geometry"]["coordinates"]]
    report = await import_grids(world.district_id, msgspec.json.encode(exported))
    assert (report.created, report.updated, report.unchanged) == (0, 0, 46)
    cells = await export_grids(world.district_id, "cell")
    assert len(cells["features"]) == 36


async def test_clockwise_rings_are_stored_counter_clockwise(bare: World):
    world = bare
    clockwise = list(reversed(box(121.50, 31.30, 121.52, 31.31)))
    report = await import_grids(world.district_id, collection(feature("C-1", "cell", "C", clockwise)))
    assert report.committed and report.errors == []
    exported = {f["properties"]["code"]: f for f in (await export_grids(world.district_id))["features"]}
    ring = exported["C-1"]["geometry"]["coordinates"][0][0]
    assert ring_area(ring) > 0 and sorted(map(tuple, ring[:-1])) == sorted(map(tuple, clockwise[:-1]))


async def test_self_intersecting_polygon_is_repaired_and_reported(bare: World):
    world = bare
    # A bow-tie over the community: its two triangles are kept, the rest of C is a gap.
    bow_tie = [[121.50, 31.30], [121.52, 31.31], [121.52, 31.30], [121.50, 31.31], [121.50, 31.30]]
    report = await import_grids(world.district_id, collection(feature("C-1", "cell", "C", bow_tie)))
    assert report.committed and report.errors == []
    repaired = [p for p in report.problems if p.kind == "repaired_geometry"]
    assert len(repaired) == 1 and repaired[0].code == "C-1" and "Self-intersection" in repaired[0].message
    triangles = await area_m2(
        "MULTIPOLYGON(((121.50 31.30, 121.51 31.305, 121.50 31.31, 121.50 31.30)),"
        "((121.52 31.30, 121.52 31.31, 121.51 31.305, 121.52 31.30)))"
    )
    assert repaired[0].area_m2 == pytest.approx(triangles, rel=1e-3)
    gap = [p for p in report.problems if p.kind == "gap"]
    assert len(gap) == 1 and gap[0].area_m2 == pytest.approx(
        await area_m2(envelope(121.50, 31.30, 121.52, 31.31)) - triangles, rel=1e-3
    )
    row = (
        await Grid.raw(
            "SELECT ST_IsValid(geom) AS valid, ST_NumGeometries(geom) AS parts FROM grids "
            "WHERE district_id = {} AND code = 'C-1'",
            world.district_id,
        )
    )[0]
    assert row == {"valid": True, "parts": 2}


async def test_unrepairable_polygon_rolls_the_whole_import_back(bare: World):
    world = bare
    flat = [[121.50, 31.30], [121.51, 31.30], [121.52, 31.30], [121.50, 31.30]]
    report = await import_grids(
        world.district_id,
        collection(
            feature("C-1", "cell", "C", box(121.50, 31.30, 121.51, 31.31)), feature("C-2", "cell", "C", flat)
        ),
    )
    assert ("error", "invalid_geometry", "C-2") in kinds(report)
    assert not report.committed and report.rejected == 1
    assert await grid_count(world) == 0


async def test_reference_and_shape_errors_are_all_reported(bare: World):
    world = bare
    cell = box(121.50, 31.30, 121.51, 31.31)
    data = collection(
        feature("X-1", "cell", "nowhere", cell),
        feature("X-2", "cell", "S", cell),
        feature("X-3", "cell", None, cell),
        feature("X-4", "cell", "C", cell, unit="no-such-unit"),
        feature("X-5", "cell", "C", cell, workers=("ghost",)),
        feature("X-6", "cell", "C", cell, workers=(world.usernames["agent"],)),
        feature("X-7", "cell", "C", cell, geometry={"type": "Point", "coordinates": [121.5, 31.3]}),
        feature(
            "X-8", "cell", "C", [[350000, 3450000], [351000, 3450000], [351000, 3451000], [350000, 3450000]]
        ),
        feature("X-9", "cell", "C", [[121.50, 31.30], [121.51, 31.30], [121.50, 31.30]]),
        feature("X-1", "cell", "C", cell),
        {"type": "Feature", "geometry": None, "properties": {"code": "X-10", "level": "block"}},
        feature("X-11", "cell", "X-1", cell),
    )
    report = await import_grids(world.district_id, data)
    assert kinds(report) >= {
        ("error", "unknown_parent", "X-1"),
        ("error", "wrong_parent_level", "X-2"),
        ("error", "missing_parent", "X-3"),
        ("error", "unknown_unit", "X-4"),
        ("error", "unknown_worker", "X-5"),
        ("error", "not_a_grid_worker", "X-6"),
        ("error", "bad_geometry", "X-7"),
        ("error", "not_wgs84", "X-8"),
        ("error", "bad_ring", "X-9"),
        ("error", "duplicate_code", "X-1"),
        ("error", "bad_feature", None),
        ("error", "wrong_parent_level", "X-11"),
    }
    assert all(p.feature is not None for p in report.errors)
    assert not report.committed and await grid_count(world) == 0
    check = await import_grids(world.district_id, collection(), commit=False)
    assert check.errors == [] and not check.committed and await grid_count(world) == 0


async def test_a_cell_outside_its_parent_is_reported_with_its_area(bare: World):
    world = bare
    report = await import_grids(
        world.district_id,
        collection(
            feature("C-1", "cell", "C", box(121.50, 31.30, 121.51, 31.31)),
            feature("C-2", "cell", "C", box(121.51, 31.30, 121.523, 31.31)),
        ),
    )
    assert report.committed
    outside = [p for p in report.problems if p.kind == "outside_parent"]
    assert [(p.code, p.other) for p in outside] == [("C-2", "C")]
    assert outside[0].area_m2 == pytest.approx(
        await area_m2(envelope(121.52, 31.30, 121.523, 31.31)), rel=1e-3
    )
    lon, lat = outside[0].at
    assert 121.52 < lon < 121.523 and 31.30 < lat < 31.31


async def test_overlaps_and_gaps_are_reported_with_their_areas(bare: World):
    world = bare
    report = await import_grids(
        world.district_id,
        collection(
            feature("C-1", "cell", "C", box(121.50, 31.30, 121.512, 31.31)),
            feature("C-2", "cell", "C", box(121.51, 31.30, 121.52, 31.308)),
        ),
    )
    assert report.committed and report.errors == []
    overlap = [p for p in report.problems if p.kind == "overlap"]
    assert [(p.code, p.other) for p in overlap] == [("C-1", "C-2")]
    assert overlap[0].area_m2 == pytest.approx(
        await area_m2(envelope(121.51, 31.30, 121.512, 31.308)), rel=1e-3
    )
    gap = [p for p in report.problems if p.kind == "gap"]
    assert [p.code for p in gap] == ["C"]
    assert gap[0].area_m2 == pytest.approx(await area_m2(envelope(121.512, 31.308, 121.52, 31.31)), rel=1e-3)
    lon, lat = gap[0].at
    assert 121.512 < lon < 121.52 and 31.308 < lat < 31.31
    # Cells sharing only an edge neither overlap nor leave a gap.
    tiled = await import_grids(
        world.district_id,
        collection(
            feature("C-1", "cell", "C", box(121.50, 31.30, 121.51, 31.31)),
            feature("C-2", "cell", "C", box(121.51, 31.30, 121.52, 31.31)),
        ),
    )
    assert tiled.problems == [] and tiled.updated == 2


async def test_unclosed_ring_is_closed_and_a_broken_file_is_refused(bare: World):
    world = bare
    open_ring = box(121.50, 31.30, 121.52, 31.31)[:-1]
    report = await import_grids(world.district_id, collection(feature("C-1", "cell", "C", open_ring)))
    assert report.committed and kinds(report) == {("warning", "ring_closed", "C-1")}
    broken = await import_grids(world.district_id, b'{"type": "FeatureCollection", "features": [')
    assert [p.kind for p in broken.problems] == ["bad_file"] and not broken.committed


async def test_cli_imports_checks_and_exports(bare: World, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    district = (await Grid.raw("SELECT code FROM districts WHERE id = {}", bare.district_id))[0]["code"]
    good = tmp_path / "grids.geojson"
    good.write_bytes(collection(feature("C-1", "cell", "C", box(121.50, 31.30, 121.51, 31.31))))
    # Once through the installed entry point, then in-process (no migrations run each time).
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "grids", "import", str(good), "--district", district],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert b"4 created" in done.stdout and b"gap" in done.stdout and b"stage geometries" in done.stderr
    bad = tmp_path / "bad.geojson"
    broken = msgspec.json.decode(good.read_bytes())
    broken["features"].append(copy.deepcopy(broken["features"][-1]))
    bad.write_bytes(msgspec.json.encode(broken))
    capsys.readouterr()
    assert await grids("import", str(bad), "--district", district, "--check") == 1
    assert "duplicate_code" in capsys.readouterr().out
    assert await grids("export", "--district", "no-such-district") == 2
    assert await grids("export", "--district", district, "--level", "cell") == 0
    cells = msgspec.json.decode(capsys.readouterr().out)
    assert [f["properties"]["code"] for f in cells["features"]] == ["C-1"]


async def grids(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return await grids_command(parser.parse_args(argv))


async def test_an_import_inside_a_callers_transaction_undoes_only_itself(bare: World):
    async with transaction():
        await fetch("UPDATE districts SET name = {} WHERE id = {}", "Renamed", bare.district_id)
        check = await import_grids(bare.district_id, collection(), commit=False)
        assert not check.committed and await grid_count(bare) == 0
        report = await import_grids(bare.district_id, collection())
        assert report.committed and report.created == 3
    name = (await fetch("SELECT name FROM districts WHERE id = {}", bare.district_id))[0]["name"]
    assert name == "Renamed" and await grid_count(bare) == 3
