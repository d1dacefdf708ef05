"""A unit leader reads the map console over their own units' cases only (DESIGN §1)."""

from __future__ import annotations

from tests.support import World, new_case


async def test_a_unit_leaders_map_holds_only_their_units_cases(world: World, client, login):
    agent, leader = await login("agent"), await login("leader1")
    ours = await new_case(client, agent, world, dispatch_to="bureau")
    theirs = await new_case(client, agent, world, dispatch_to="street")
    box = {"bbox": "121.45,31.21,121.49,31.24"}
    shown = {f["id"] for f in (await client.get("/map/cases", headers=leader, params=box)).json()["features"]}
    assert ours["id"] in shown and theirs["id"] not in shown
    counts = (await client.get("/map/cells/counts", headers=leader)).json()["cells"]
    assert sum(c["open"] for c in counts) == 1
