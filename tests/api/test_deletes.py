"""Cases and their history outlive nothing but their district: other deletes are refused."""

from __future__ import annotations

import asyncpg
import pytest

from server.db import fetch
from tests.support import World, new_case


async def test_a_unit_or_grid_in_use_cannot_be_deleted_but_a_district_can(client, world: World, login):
    case = await new_case(client, await login("agent"), world, dispatch_to="street")
    for table, key in (
        ("units", world.units["street"]),
        ("grids", world.grids["cell_a"]),
        ("app_users", world.users["agent"]),
    ):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await fetch(f"DELETE FROM {table} WHERE id = {{}}", key)
    assert (await fetch("SELECT status FROM cases WHERE id = {}::uuid", case["id"]))[0][
        "status"
    ] == "dispatched"
    await fetch("DELETE FROM districts WHERE id = {}", world.district_id)
    for table in ("cases", "case_events", "units", "grids", "app_users"):
        rows = await fetch(f"SELECT count(*) AS n FROM {table} WHERE district_id = {{}}", world.district_id)
        assert rows[0]["n"] == 0, table
