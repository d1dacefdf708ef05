"""Grid import from the console (issue 14): the CLI's validation report first, nothing stored; the
import on confirm; errors roll it all back; district admins only."""

from __future__ import annotations

import copy

import msgspec

from server.db import fetch
from tests.geo.conftest import demo_file
from tests.support import World


async def _names(world: World) -> dict[str, str]:
    rows = await fetch("SELECT code, name FROM grids WHERE district_id = {}", world.district_id)
    return {r["code"]: r["name"] for r in rows}


async def test_a_file_is_checked_then_imported_on_confirm(world: World, client, login):
    admin = await login("admin")
    changed = copy.deepcopy(demo_file(world))
    cell = next(f for f in changed["features"] if f["properties"]["level"] == "cell")
    code = cell["properties"]["code"]
    cell["properties"]["name"] = "改名的网格"
    body = msgspec.json.encode(changed)
    before = await _names(world)

    check = await client.post("/admin/grids/import", headers=admin, content=body)
    assert check.status_code == 200, check.text
    report = check.json()
    assert report["committed"] is False and report["updated"] == 1
    assert report["unchanged"] == report["features"] - 1 and report["rejected"] == 0
    assert await _names(world) == before

    done = await client.post("/admin/grids/import", headers=admin, params={"commit": "true"}, content=body)
    assert done.status_code == 200 and done.json()["committed"] is True
    assert (await _names(world))[code] == "改名的网格"


async def test_a_broken_file_is_reported_and_nothing_is_stored(world: World, client, login):
    admin = await login("admin")
    broken = copy.deepcopy(demo_file(world))
    cell = next(f for f in broken["features"] if f["properties"]["level"] == "cell")
    cell["properties"]["parent"] = "no-such-parent"
    cell["properties"]["name"] = "never stored"
    before = await _names(world)
    r = await client.post(
        "/admin/grids/import", headers=admin, params={"commit": "true"}, content=msgspec.json.encode(broken)
    )
    assert r.status_code == 200, r.text
    assert r.json()["committed"] is False
    assert any(p["severity"] == "error" for p in r.json()["problems"])
    assert await _names(world) == before
    not_json = await client.post("/admin/grids/import", headers=admin, content=b"{not json")
    # As on the command line, a file that is no GeoJSON is a report with one error, not a crash.
    assert not_json.status_code == 200 and not_json.json()["committed"] is False
    assert [p["kind"] for p in not_json.json()["problems"]] == ["bad_file"]
    empty = await client.post("/admin/grids/import", headers=admin, content=b"")
    assert empty.status_code == 422 and empty.json()["code"] == "empty_file"


async def test_only_a_district_admin_imports_grids(world: World, client, login):
    body = msgspec.json.encode(demo_file(world))
    for name in ("agent", "leader1", "worker1"):
        r = await client.post("/admin/grids/import", headers=await login(name), content=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden_role", name
