"""Errors speak of the request, not of the database, and keep the headers HTTP asks for."""

from __future__ import annotations

import pytest

from server.tables import Device, RoutingRule
from tests.support import World

# What a client must never read in an error: PostgreSQL's and asyncpg's own words.
INTERNALS = (
    "query argument",
    "$1",
    "$2",
    "$3",
    "$4",
    "character varying",
    "int32",
    "int16",
    "UTF8",
    "asyncpg",
)


def clean(body: dict) -> bool:
    return not any(word in body["message"] for word in INTERNALS)


async def test_wrong_method_answers_405_with_allow(client):
    r = await client.delete("/auth/login")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    # Litestar answers OPTIONS on every path itself.
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST"}
    r = await client.put("/cases")
    assert r.status_code == 405 and set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    "field", ["category_id", "unit_id", "grid_id", "co_unit_ids"], ids=lambda f: f"huge {f}"
)
async def test_ids_beyond_int4_in_routing_rules_are_refused_cleanly(client, world: World, login, field):
    admin = await login("admin")
    rule = {"category_id": world.categories["municipal"], "unit_id": world.units["street"]}
    rule[field] = [2**40] if field == "co_unit_ids" else 2**40
    before = await RoutingRule.count().where(RoutingRule.district_id == world.district_id)
    r = await client.post("/routing-rules", headers=admin, json=rule)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] in {"invalid_value", "unknown_id", "unknown_unit", "unknown_category"}
    assert clean(r.json()), r.text
    assert await RoutingRule.count().where(RoutingRule.district_id == world.district_id) == before


@pytest.mark.parametrize(
    "method,path",
    [("DELETE", "/routing-rules/99999999999"), ("GET", "/routing-rules?category_id=99999999999")],
)
async def test_ids_beyond_int4_in_paths_and_queries_are_refused_cleanly(
    client, world: World, login, method, path
):
    r = await client.request(method, path, headers=await login("admin"))
    assert 400 <= r.status_code < 500, r.text
    assert clean(r.json()), r.text


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x" * 101, "platform": "android", "app_version": "1"}, "name"),
        ({"name": "a\u0000b", "platform": "android", "app_version": "1"}, "name"),
        ({"name": "phone", "platform": "p" * 33, "app_version": "1"}, "platform"),
    ],
    ids=["name too long", "NUL in name", "platform too long"],
)
async def test_device_texts_the_database_cannot_hold_name_the_field(client, world: World, login, body, field):
    before = await Device.count()
    r = await client.post("/devices", headers=await login("worker1"), json=body)
    assert r.status_code == 400 and r.json()["code"] == "invalid_value", r.text
    assert r.json()["field"] == field and clean(r.json()), r.text
    assert await Device.count() == before


async def test_login_with_a_nul_or_a_huge_username_is_a_clean_400(client):
    for username in ("agent\u0000", "x" * 100_000):
        r = await client.post("/auth/login", json={"username": username, "password": "pw"})
        assert r.status_code == 400 and r.json()["field"] == "username" and clean(r.json()), r.text


async def test_unstorable_values_without_a_bound_still_answer_without_internals(client, world: World, login):
    # A year far out of range reaches no column: it is refused by its bound, with its name.
    r = await client.post(
        "/calendars",
        headers=await login("admin"),
        json={"year": 40000, "holidays": [], "workdays": [], "source": "x"},
    )
    assert r.status_code == 400 and r.json()["field"] == "year" and clean(r.json()), r.text
