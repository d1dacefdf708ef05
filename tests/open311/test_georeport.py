"""Open311 GeoReport v2 driven as a civic app drives it: form-encoded posts, JSON and XML answers,
the specification's errors, and what the public may never read (issue 15, items 1 and 2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from server.db import fetch
from tests.support import CELL_POINTS, World

PRIVATE = ("Zhang Sanfeng", "13912345678", "zhang@example.cn")


@pytest.fixture
async def civic(client, world: World, login):
    """The district's jurisdiction code and a fresh civic-app key issued by its admin."""
    rows = await fetch("SELECT code FROM districts WHERE id = {}", world.district_id)
    r = await client.post("/api-keys", headers=await login("admin"), json={"name": "Test civic app"})
    assert r.status_code == 201, r.text
    return {"jurisdiction_id": rows[0]["code"], "api_key": r.json()["key"]}


def _form(civic: dict, **fields: str) -> dict[str, str]:
    lat, lon = CELL_POINTS["cell_a"]
    return {
        **civic,
        "service_code": "city_appearance",
        "lat": str(lat),
        "long": str(lon),
        "description": "Overflowing bins by the school gate",
        **fields,
    }


async def _submit(client, civic: dict, fmt: str = "json", **fields: str):
    return await client.post(f"/open311/v2/requests.{fmt}", data=_form(civic, **fields))


async def test_discovery_names_the_specification_and_both_formats(client):
    r = await client.get("/open311/v2/discovery.json")
    assert r.status_code == 200
    endpoint = r.json()["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    xml = ET.fromstring((await client.get("/open311/v2/discovery.xml")).content)
    assert xml.tag == "discovery"
    assert [f.text for f in xml.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


async def test_services_list_the_districts_categories_in_json_and_xml(client, civic):
    r = await client.get("/open311/v2/services.json", params={"jurisdiction_id": civic["jurisdiction_id"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert services["greening"]["service_name"] == "Greening"
    assert set(services["greening"]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert services["greening"]["type"] == "realtime" and services["greening"]["metadata"] is False
    x = await client.get("/open311/v2/services.xml", params={"jurisdiction_id": civic["jurisdiction_id"]})
    root = ET.fromstring(x.content)
    assert root.tag == "services"
    assert {s.findtext("service_code") for s in root.findall("service")} == set(services)
    assert root.find("service/metadata").text in ("true", "false")


async def test_a_service_definition_carries_its_attributes_with_the_specs_datatypes(client, world, civic):
    await fetch(
        "UPDATE categories SET attributes = {}::jsonb WHERE id = {}",
        '[{"code": "bins", "datatype": "singlevaluelist", "required": true, "description": "How many bins?",'
        ' "order": 1, "values": [["one", "One"], ["many", "Several"]]}]',
        world.categories["city_appearance"],
    )
    params = {"jurisdiction_id": civic["jurisdiction_id"]}
    definition = (await client.get("/open311/v2/services/city_appearance.json", params=params)).json()
    assert definition["service_code"] == "city_appearance"
    (attribute,) = definition["attributes"]
    assert attribute["datatype"] == "singlevaluelist" and attribute["required"] is True
    assert attribute["values"] == [{"key": "one", "name": "One"}, {"key": "many", "name": "Several"}]
    xml = ET.fromstring((await client.get("/open311/v2/services/city_appearance.xml", params=params)).content)
    assert xml.tag == "service_definition"
    assert [v.findtext("key") for v in xml.findall("attributes/attribute/values/value")] == ["one", "many"]
    services = (await client.get("/open311/v2/services.json", params=params)).json()
    assert next(s for s in services if s["service_code"] == "city_appearance")["metadata"] is True
    # The attribute is required, and only its keys are accepted.
    missing = await _submit(client, civic)
    assert missing.status_code == 400 and "attribute[bins]" in missing.json()[0]["description"]
    wrong = await _submit(client, civic, **{"attribute[bins]": "dozens"})
    assert wrong.status_code == 400
    ok = await _submit(client, civic, **{"attribute[bins]": "many"})
    assert ok.status_code == 201, ok.text
    unknown = await client.get("/open311/v2/services/no_such.json", params=params)
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404


async def test_a_request_becomes_a_routed_case_numbered_from_the_one_sequence(client, world, civic, login):
    agent = await login("agent")
    lat, lon = CELL_POINTS["cell_b"]
    by_phone = await client.post(
        "/cases", headers=agent, json={"type": "complaint", "description": "call", "lat": lat, "lon": lon}
    )
    r = await _submit(
        client, civic, first_name="Zhang", last_name="Sanfeng", phone=PRIVATE[1], email=PRIVATE[2]
    )
    assert r.status_code == 201, r.text
    (created,) = r.json()
    year, number = by_phone.json()["ticket"].split("-")
    assert created["service_request_id"] == f"{year}-{int(number) + 1:06d}"
    assert created["token"]
    rows = await fetch(
        "SELECT channel, grid_id, complainant_name, anonymous FROM cases WHERE ticket = {} "
        "AND district_id = {}",
        created["service_request_id"],
        world.district_id,
    )
    assert rows[0]["channel"] == "open311" and rows[0]["grid_id"] == world.grids["cell_a"]
    assert rows[0]["complainant_name"] == "Zhang Sanfeng" and not rows[0]["anonymous"]
    token = await client.get(
        f"/open311/v2/tokens/{created['token']}.json", params={"jurisdiction_id": civic["jurisdiction_id"]}
    )
    assert token.json() == [{"service_request_id": created["service_request_id"], "token": created["token"]}]
    xml = ET.fromstring((await _submit(client, civic, "xml")).content)
    assert xml.tag == "service_requests" and xml.findtext("request/service_request_id")


async def test_requests_read_back_with_the_specs_fields_and_no_private_data(client, world, civic, login):
    r = await _submit(
        client,
        civic,
        first_name="Zhang",
        last_name="Sanfeng",
        phone=PRIVATE[1],
        email=PRIVATE[2],
        media_url="https://example.cn/bins.jpg",
    )
    ticket = r.json()[0]["service_request_id"]
    params = {"jurisdiction_id": civic["jurisdiction_id"]}
    one = await client.get(f"/open311/v2/requests/{ticket}.json", params=params)
    assert one.status_code == 200
    (record,) = one.json()
    assert record["status"] == "open" and record["service_code"] == "city_appearance"
    assert record["media_url"] == "https://example.cn/bins.jpg"
    assert record["requested_datetime"].endswith("+08:00")
    assert record["lat"] == CELL_POINTS["cell_a"][0] and record["long"] == CELL_POINTS["cell_a"][1]
    listed = await client.get("/open311/v2/requests.json", params=params)
    xml = await client.get("/open311/v2/requests.xml", params=params)
    for body in (one.text, listed.text, xml.text):
        assert not any(secret in body for secret in PRIVATE)
    assert ticket in {x["service_request_id"] for x in listed.json()}
    assert ET.fromstring(xml.content).findtext("request/service_request_id")


async def test_an_accusation_is_never_public(client, world, civic, login):
    agent = await login("agent")
    lat, lon = CELL_POINTS["cell_a"]
    accusation = await client.post(
        "/cases",
        headers=agent,
        json={
            "type": "report",
            "description": "The squad takes bribes",
            "lat": lat,
            "lon": lon,
            "accused_unit_id": world.units["squad"],
        },
    )
    assert accusation.status_code == 201
    ticket = accusation.json()["ticket"]
    params = {"jurisdiction_id": civic["jurisdiction_id"]}
    assert (await client.get(f"/open311/v2/requests/{ticket}.json", params=params)).status_code == 404
    by_id = await client.get("/open311/v2/requests.json", params={**params, "service_request_id": ticket})
    assert by_id.json() == []
    everything = await client.get("/open311/v2/requests.json", params=params)
    assert ticket not in everything.text and "bribes" not in everything.text


async def test_search_filters_as_the_specification_says(client, world, civic):
    first = (await _submit(client, civic)).json()[0]["service_request_id"]
    second = (await _submit(client, civic, service_code="greening")).json()[0]["service_request_id"]
    params = {"jurisdiction_id": civic["jurisdiction_id"]}

    async def ids(**query: str) -> list[str]:
        r = await client.get("/open311/v2/requests.json", params={**params, **query})
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    assert await ids(service_request_id=f"{first},{second}") == [second, first]
    # The id list overrides every other filter.
    assert await ids(service_request_id=first, status="closed") == [first]
    assert await ids(service_code="greening") == [second]
    assert await ids(status="closed") == []
    assert set(await ids(status="open,closed")) >= {first, second}
    # An empty parameter is absent.
    assert set(await ids(status="", service_code="")) >= {first, second}
    assert await ids(start_date="2001-01-01T00:00:00Z", end_date="2001-02-01T00:00:00Z") == []
    assert len(await ids(page_size="1")) == 1
    assert await ids(page_size="1", page="2") == [first]
    for bad in (
        {"start_date": "yesterday"},
        {"start_date": "2026-01-01T00:00:00"},
        {"status": "pending"},
        {"page_size": "1001"},
        {"page": "0"},
    ):
        r = await client.get("/open311/v2/requests.json", params={**params, **bad})
        assert r.status_code == 400 and r.json()[0]["code"] == 400, bad


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"api_key": ""}, 403, "api_key"),
        ({"api_key": "not-a-key"}, 403, "api_key"),
        ({"service_code": "no_such"}, 400, "service_code"),
        ({"lat": "91"}, 400, "lat"),
        ({"long": ""}, 400, "lat and long"),
        ({"lat": "", "long": ""}, 400, "location"),
        ({"lat": "", "long": "", "address_id": "77"}, 400, "address_id"),
        ({"phone": "call me"}, 400, "phone"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"description": "x" * 4001}, 400, "description"),
        ({"description": "nul\x00byte"}, 400, "NUL"),
    ],
)
async def test_bad_submissions_answer_the_specs_error_list(client, world, civic, fields, status, words):
    before = await fetch("SELECT count(*) AS n FROM cases WHERE district_id = {}", world.district_id)
    for fmt in ("json", "xml"):
        r = await _submit(client, civic, fmt, **fields)
        assert r.status_code == status, r.text
        if fmt == "json":
            (error,) = r.json()
            assert error["code"] == status and words in error["description"]
        else:
            root = ET.fromstring(r.content)
            assert root.tag == "errors" and root.findtext("error/code") == str(status)
    after = await fetch("SELECT count(*) AS n FROM cases WHERE district_id = {}", world.district_id)
    assert after[0]["n"] == before[0]["n"]


async def test_unknown_resources_and_formats_are_404(client, civic):
    params = {"jurisdiction_id": civic["jurisdiction_id"]}
    for path in (
        "/open311/v2/services.html",
        "/open311/v2/nothing.json",
        "/open311/v2/requests/2026-999999.json",
        "/open311/v2/tokens/unknown.xml",
    ):
        r = await client.get(path, params=params)
        assert r.status_code == 404, path
    assert (
        await client.get("/open311/v2/services.json", params={"jurisdiction_id": "XX"})
    ).status_code == 404


async def test_keys_are_issued_by_admins_hashed_revocable_and_rate_limited(client, world, civic, login):
    agent = await login("agent")
    assert (await client.post("/api-keys", headers=agent, json={"name": "rogue"})).status_code == 403
    rows = await fetch("SELECT key_hash FROM api_keys WHERE district_id = {}", world.district_id)
    assert civic["api_key"] not in {r["key_hash"] for r in rows}
    admin = await login("admin")
    keys = (await client.get("/api-keys", headers=admin)).json()
    assert all("key" not in k for k in keys)
    for _attempt in range(2):
        # The window is the clock's minute: a run that crosses a minute's end is run again.
        minute = (await fetch("SELECT date_trunc('minute', now()) AS m"))[0]["m"]
        answers = [(await _submit(client, civic)).status_code for _ in range(61)]
        if (await fetch("SELECT date_trunc('minute', now()) AS m"))[0]["m"] == minute:
            break
        civic = {
            **civic,
            "api_key": (await client.post("/api-keys", headers=admin, json={"name": "again"})).json()["key"],
        }
    assert answers[:60] == [201] * 60 and answers[60] == 429
    over = await _submit(client, civic)
    assert over.status_code == 429 and "a minute" in over.json()[0]["description"]
    for key in (await client.get("/api-keys", headers=admin)).json():
        assert (await client.delete(f"/api-keys/{key['id']}", headers=admin)).status_code == 204
    assert not any(k["active"] for k in (await client.get("/api-keys", headers=admin)).json())
    revoked = await _submit(client, civic)
    assert revoked.status_code == 403
