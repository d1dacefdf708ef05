"""Routing rules: category + grid → lead and co-units, and accusations that never reach the accused."""

from __future__ import annotations

from geo.routing import Route, RuleIn, add_rule, route
from tests.geo.support import inside
from tests.support import World


async def rule(
    world: World, category: str, lead: str, *, grid: str | None = None, co: tuple[str, ...] = ()
) -> int:
    added = await add_rule(
        world.district_id,
        RuleIn(
            category_id=world.categories[category],
            unit_id=world.units[lead],
            grid_id=world.grids[grid] if grid else None,
            co_unit_ids=[world.units[u] for u in co],
        ),
    )
    return added.id


async def routed(world: World, category: str, cell: str | None, **accused) -> Route:
    return await route(
        world.district_id, world.categories[category], world.grids[cell] if cell else None, **accused
    )


async def test_the_most_specific_rule_wins(world: World):
    u = world.units
    assert await routed(world, "city_appearance", "D1-S1-C1-01") == Route(
        lead_unit_id=u["street-1"], source="grid_unit"
    )
    district_wide = await rule(world, "city_appearance", "bureau", co=("street-2", "bureau"))
    community = await rule(world, "city_appearance", "street-2", grid="D1-S1-C1")
    cell = await rule(world, "city_appearance", "squad", grid="D1-S1-C1-01")
    assert await routed(world, "city_appearance", "D1-S1-C1-01") == Route(
        lead_unit_id=u["squad"], source="rule", rule_id=cell
    )
    assert await routed(world, "city_appearance", "D1-S1-C1-02") == Route(
        lead_unit_id=u["street-2"], source="rule", rule_id=community
    )
    assert await routed(world, "city_appearance", "D1-S2-C3-06") == Route(
        lead_unit_id=u["bureau"], co_unit_ids=(u["street-2"],), source="rule", rule_id=district_wide
    )
    assert await routed(world, "city_appearance", None) == Route(
        lead_unit_id=u["bureau"], co_unit_ids=(u["street-2"],), source="rule", rule_id=district_wide
    )
    # Another category has no rules: the cell's unit, or without a place the district's root unit.
    assert (await routed(world, "greening", "D1-S2-C1-01")).lead_unit_id == u["street-2"]
    assert await routed(world, "greening", None) == Route(lead_unit_id=u["office"], source="district_root")


async def test_an_accusation_never_goes_to_the_accused(world: World):
    u, users = world.units, world.users
    district_wide = await rule(world, "conduct", "bureau", co=("street-1",))
    # street-2 is never above an accused unit here: its rule is passed over for every accusation.
    await rule(world, "conduct", "street-2", grid="D1-S1-C1", co=("bureau", "street-1"))
    cell = await rule(world, "conduct", "squad", grid="D1-S1-C1-01", co=("street-1", "bureau"))
    here = "D1-S1-C1-01"
    assert (await routed(world, "conduct", here)).rule_id == cell
    # The accused unit is skipped as lead and dropped from the co-units, and only a rule whose unit
    # is above the accused one leads (seed 002): the squad's bureau, not the street-2 sibling.
    assert await routed(world, "conduct", here, accused_unit_id=u["squad"]) == Route(
        lead_unit_id=u["bureau"], co_unit_ids=(u["street-1"],), source="rule", rule_id=district_wide
    )
    # No rule names a unit above street-1 or the bureau: the nearest unit above them leads.
    superior = Route(lead_unit_id=u["office"], source="superior_unit")
    assert await routed(world, "conduct", here, accused_unit_id=u["street-1"]) == superior
    assert await routed(world, "conduct", here, accused_unit_id=u["bureau"]) == superior
    # Accusing a person excludes their unit: member1 is in the squad.
    assert (await routed(world, "conduct", here, accused_user_id=users["member1"])).rule_id == district_wide
    # Above both street-2 and the squad: only the office.
    both = await routed(
        world, "conduct", here, accused_unit_id=u["street-2"], accused_user_id=users["member1"]
    )
    assert both == superior
    # No rule left: the cell's unit, unless accused, then the unit above the accused, if any.
    assert await routed(world, "other", here, accused_user_id=users["worker1"]) == superior
    assert await routed(world, "other", here, accused_unit_id=u["office"]) == Route(
        lead_unit_id=None, source="none"
    )


async def test_a_report_on_a_grid_worker_is_routed_away_and_hidden_from_them(world: World, client, login):
    agent, worker1 = await login("agent"), await login("worker1")
    cell = world.grids["D1-S1-C1-01"]
    point = await inside(cell)
    cases = {}
    for kind, accused in (("complaint", None), ("report", world.users["worker1"])):
        r = await client.post(
            "/cases",
            headers=agent,
            json={
                "type": kind,
                "description": f"{kind} in worker1's cell",
                "category_id": world.categories["conduct"],
                "lat": point["lat"],
                "lon": point["lon"],
                "accused_user_id": accused,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["grid_id"] == cell
        cases[kind] = r.json()["id"]
    r = await client.get(f"/cases/{cases['complaint']}/route", headers=agent)
    assert r.json() == {
        "lead_unit_id": world.units["street-1"],
        "co_unit_ids": [],
        "source": "grid_unit",
        "rule_id": None,
    }
    r = await client.get(f"/cases/{cases['report']}/route", headers=agent)
    assert r.status_code == 200, r.text
    suggestion = r.json()
    assert suggestion["lead_unit_id"] == world.units["office"] and suggestion["source"] == "superior_unit"
    r = await client.post(
        f"/cases/{cases['report']}/dispatch",
        headers=agent,
        json={"version": 1, "payload": {"unit_id": suggestion["lead_unit_id"]}},
    )
    assert r.status_code == 200, r.text
    # worker1 owns the cell: the complaint is theirs to see, the report about them is not.
    assert (await client.get(f"/cases/{cases['complaint']}", headers=worker1)).status_code == 200
    r = await client.get(f"/cases/{cases['report']}", headers=worker1)
    assert r.status_code == 404 and r.json()["code"] == "case_not_found"
    listed = {c["id"] for c in (await client.get("/cases", headers=worker1)).json()["items"]}
    assert cases["complaint"] in listed and cases["report"] not in listed
    assert (await client.get(f"/cases/{cases['report']}/route", headers=worker1)).status_code == 403


async def test_a_report_on_an_agent_stays_off_their_map_and_lists(world: World, client, login):
    agent, admin = await login("agent"), await login("admin")
    r = await client.post(
        "/cases",
        headers=admin,
        json={
            "type": "report",
            "description": "The agent was rude",
            "category_id": world.categories["conduct"],
            "lat": 31.2175,
            "lon": 121.453,
            "accused_user_id": world.users["agent"],
            "complainant_phone": "13811112222",
        },
    )
    assert r.status_code == 201, r.text
    report = r.json()
    r = await client.post(
        "/cases",
        headers=agent,
        json={
            "type": "complaint",
            "description": "Same caller, same place",
            "category_id": world.categories["conduct"],
            "lat": 31.2175,
            "lon": 121.453,
            "complainant_phone": "13811112222",
        },
    )
    other = r.json()
    bbox = {"bbox": "121.44,31.21,121.50,31.25"}
    seen_by = {}
    for name, headers in (("agent", agent), ("admin", admin)):
        features = (await client.get("/map/cases", headers=headers, params=bbox)).json()["features"]
        counts = (await client.get("/map/cells/counts", headers=headers)).json()["cells"]
        repeats = (await client.get(f"/cases/{other['id']}/repeats", headers=headers)).json()
        seen_by[name] = (
            {f["id"] for f in features},
            sum(c["open"] for c in counts),
            {c["case_id"] for c in repeats},
        )
    # Only the accused agent loses it: an agent leads no unit, so the office keeps reading it.
    assert report["view"] == "case"
    assert seen_by["admin"] == ({report["id"], other["id"]}, 2, {report["id"]})
    assert seen_by["agent"] == ({other["id"]}, 1, set())
    for path in (f"/cases/{report['id']}/route", f"/cases/{report['id']}/repeats"):
        r = await client.get(path, headers=agent)
        assert r.status_code == 404 and r.json()["code"] == "case_not_found"


async def test_routing_rules_are_data_an_admin_manages(world: World, client, login):
    admin, agent = await login("admin"), await login("agent")
    body = {
        "category_id": world.categories["planning"],
        "unit_id": world.units["bureau"],
        "grid_id": world.grids["D1-S2"],
        "co_unit_ids": [world.units["street-2"], world.units["bureau"]],
    }
    r = await client.post("/routing-rules", headers=agent, json=body)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_role"
    r = await client.post("/routing-rules", headers=admin, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["co_unit_ids"] == [world.units["street-2"]]
    r = await client.get(
        "/routing-rules", headers=agent, params={"category_id": world.categories["planning"]}
    )
    assert r.json() == [created]
    r = await client.post("/routing-rules", headers=admin, json={**body, "unit_id": 999_999_999})
    assert r.status_code == 422 and r.json()["field"] == "unit_id"
    r = await client.post("/routing-rules", headers=admin, json={**body, "grid_id": 999_999_999})
    assert r.status_code == 422 and r.json()["field"] == "grid_id"
    r = await client.post("/routing-rules", headers=admin, json={**body, "colour": "red"})
    assert r.status_code == 400
    assert (await client.get("/routing-rules", headers=await login("worker1"))).status_code == 403
    assert (await client.delete(f"/routing-rules/{created['id']}", headers=admin)).status_code == 204
    r = await client.delete(f"/routing-rules/{created['id']}", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "rule_not_found"
