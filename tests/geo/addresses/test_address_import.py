"""Importing the register: problem rows reported by line and kind, good rows imported, re-imports in place."""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec

from geo.addresses.register import import_addresses
from server.db import fetch
from server.demo.addresses import register_csv
from server.settings import ROOT
from server.tables import District
from tests.geo.addresses.confusing import CELL_A, confusing_rows, csv_bytes, spots


async def stored(district_id: int) -> dict[str, dict]:
    rows = await fetch(
        "SELECT key, kind, label, norm, grid_id, ST_Y(geom) AS lat FROM addresses WHERE district_id = {}",
        district_id,
    )
    return {r["key"]: r for r in rows}


async def test_malformed_outside_and_duplicated_rows_are_reported_and_the_rest_imported(world):
    rows = await confusing_rows(world)
    bad = [
        dict(id="x1", kind="door", road="长宁路", number="1", lat="north", lon=121.46),  # line 11
        dict(id="x2", kind="door", road="长宁路", number="2", lat=0.0, lon=0.0),  # line 12: outside
        dict(
            id="e1", kind="door", road="长宁路", number="3", lat=rows[0]["lat"], lon=rows[0]["lon"]
        ),  # 13: dup
        dict(id="x3", kind="mansion", road="长宁路", lat=rows[0]["lat"], lon=rows[0]["lon"]),  # 14
        dict(id="x4", kind="door", lat=rows[0]["lat"], lon=rows[0]["lon"]),  # 15: nothing to search by
        dict(
            id="x5", kind="door", road="长宁路\x00", number="5", lat=rows[0]["lat"], lon=rows[0]["lon"]
        ),  # 16
        dict(id="x6", kind="door", road="长" * 101, number="6", lat=rows[0]["lat"], lon=rows[0]["lon"]),  # 17
        dict(id="x7", kind="door", road="长宁路", number="7", lat=95, lon=121.46),  # 18
    ]
    report = await import_addresses(world.district_id, csv_bytes(rows + bad))
    assert report.committed and report.rows == 17 and report.created == 9
    assert [(p.line, p.kind) for p in report.problems] == [
        (11, "malformed"),
        (12, "outside"),
        (13, "duplicate"),
        (14, "malformed"),
        (15, "malformed"),
        (16, "malformed"),
        (17, "malformed"),
        (18, "malformed"),
    ]
    entries = await stored(world.district_id)
    assert set(entries) == {f"e{i}" for i in range(1, 10)}
    assert entries["e1"]["label"] == "长宁路100号" and entries["e1"]["grid_id"] == world.grids[CELL_A]
    assert entries["e6"]["label"] == "长宁路200号华山小区3栋2单元"
    assert entries["e6"]["norm"] == "长宁路 200号 华山小区 3栋 2单元"


async def test_a_reimport_updates_in_place(world):
    rows = await confusing_rows(world)
    await import_addresses(world.district_id, csv_bytes(rows))
    before = await stored(world.district_id)
    moved_lat, moved_lon = (await spots(world.grids["D1-S1-C1-02"], 1))[0]
    rows[0] = {**rows[0], "lat": moved_lat, "lon": moved_lon}
    rows[1] = {**rows[1], "number": "102"}
    report = await import_addresses(world.district_id, csv_bytes(rows))
    assert (report.created, report.updated, report.unchanged) == (0, 2, 7)
    after = await stored(world.district_id)
    assert after["e1"]["grid_id"] == world.grids["D1-S1-C1-02"] and after["e2"]["label"] == "延安西路102号"
    assert after["e3"] == before["e3"]
    ids = await fetch("SELECT count(*) AS n FROM addresses WHERE district_id = {}", world.district_id)
    assert ids[0]["n"] == 9


async def test_rows_without_ids_are_keyed_by_their_text(world):
    rows = [{k: v for k, v in r.items() if k != "id"} for r in await confusing_rows(world)]
    first = await import_addresses(world.district_id, csv_bytes(rows))
    again = await import_addresses(world.district_id, csv_bytes(rows + rows[:1]))
    assert first.created == 9 and again.unchanged == 9 and [p.kind for p in again.problems] == ["duplicate"]


async def test_geojson_points_import_like_csv(world):
    rows = await confusing_rows(world)
    features = [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: v for k, v in r.items() if k not in ("id", "lat", "lon")},
        }
        for r in rows
    ]
    features.append(
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": []}, "properties": {}}
    )
    report = await import_addresses(
        world.district_id, msgspec.json.encode({"type": "FeatureCollection", "features": features})
    )
    assert report.created == 9 and [(p.line, p.kind) for p in report.problems] == [(10, "malformed")]
    assert (await stored(world.district_id))["e8"]["label"] == "华山小区阳光幼儿园"


async def test_check_writes_nothing(world):
    report = await import_addresses(world.district_id, csv_bytes(await confusing_rows(world)), commit=False)
    assert not report.committed and not report.problems and report.rows == 9
    assert await stored(world.district_id) == {}


async def test_the_demo_register_lies_in_the_demo_cells(world):
    report = await import_addresses(world.district_id, register_csv())
    assert report.committed and report.problems == [] and report.created >= 2000
    cells = await fetch(
        "SELECT count(DISTINCT grid_id) AS cells, count(*) FILTER (WHERE grid_id IS NULL) AS unplaced "
        "FROM addresses WHERE district_id = {}",
        world.district_id,
    )
    assert cells[0] == {"cells": 36, "unplaced": 0}


def test_the_command_line_reports_problem_rows_and_writes_nothing_with_check(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = tmp_path / "register.csv"
    data.write_bytes(register_csv() + "x,door,长宁路,1,,,,,north,121.46\n".encode())
    command = [sys.executable, "-m", "server.cli", "addresses", "import", str(data), "--district", "nowhere"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "no district" in done.stderr


async def test_the_command_line_imports_into_a_district(world, tmp_path):
    code = (await District.select(District.code).where(District.id == world.district_id).first())["code"]
    data = tmp_path / "register.csv"
    data.write_bytes(register_csv() + "x,door,长宁路,1,,,,,north,121.46\n".encode())
    command = [sys.executable, "-m", "server.cli", "addresses", "import", str(data), "--district", code]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    checked = subprocess.run([*command, "--check"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 1, checked.stderr
    assert "1 malformed" in checked.stdout and "nothing written" in checked.stdout
    assert await stored(world.district_id) == {}
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and "2485 created" in done.stdout, done.stdout + done.stderr
    assert len(await stored(world.district_id)) == 2485
