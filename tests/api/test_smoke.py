from tests.support import World


async def test_register_and_read(client, world: World, login):
    agent = await login("agent")
    r = await client.post(
        "/cases",
        headers=agent,
        json={
            "type": "complaint",
            "description": "Overflowing bins",
            "lat": 31.225,
            "lon": 121.465,
            "category_id": world.categories["city_appearance"],
            "complainant_phone": "13812345678",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["grid_id"] == world.grids["cell_a"]
    assert case["ticket"].startswith("20")
    r = await client.post(
        f"/cases/{case['id']}/dispatch",
        headers=agent,
        json={"version": 1, "payload": {"unit_id": world.units["street"]}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    worker = await login("worker1")
    r = await client.get(f"/cases/{case['id']}", headers=worker)
    assert r.status_code == 200, r.text
    assert r.json()["complainant_phone"] == "138****5678"
