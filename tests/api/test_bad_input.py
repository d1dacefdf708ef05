"""Bad input of every kind gets its status and error `code` (and `field`), and changes nothing stored.

Each row is sent against a district holding two cases of cell_a (worker1's): one `registered`, one
`dispatched` to the street office. A 500 here is a bug, never an expected answer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

import pytest

from server.tables import Case, CaseEvent
from tests.support import PASSWORD, World, build_world, new_case

MISSING = str(uuid.UUID(int=1))


class Bad(NamedTuple):
    name: str
    user: str | None  # None: no Authorization header
    method: str
    # `{registered}`, `{dispatched}` and `{missing}` are replaced by case ids.
    path: str
    # A dict is sent as JSON after `{placeholders}` in its values are replaced; bytes are sent as they are.
    body: Any
    status: int
    code: str
    field: str | None = None


def complaint(**fields) -> dict:
    return {"type": "complaint", "description": "Broken bench", "lat": 31.225, "lon": 121.465, **fields}


R, D = "/cases/{registered}", "/cases/{dispatched}"
CASES = [
    Bad("malformed JSON", "agent", "POST", "/cases", b'{"type": "complaint", ', 400, "malformed_json"),
    Bad("empty body", "agent", "POST", "/cases", b"", 400, "malformed_json"),
    Bad("body is an array", "agent", "POST", "/cases", [complaint()], 400, "wrong_type"),
    Bad("wrong type", "agent", "POST", "/cases", complaint(description=5), 400, "wrong_type", "description"),
    Bad(
        "wrong type in a payload",
        "agent",
        "POST",
        f"{R}/dispatch",
        {"version": 1, "payload": {"unit_id": "x"}},
        400,
        "wrong_type",
        "payload.unit_id",
    ),
    Bad(
        "missing field", "agent", "POST", "/cases", {"type": "complaint"}, 400, "missing_field", "description"
    ),
    Bad("missing payload", "agent", "POST", f"{R}/dispatch", {"version": 1}, 400, "missing_field", "payload"),
    Bad(
        "missing payload field",
        "worker1",
        "POST",
        f"{D}/return",
        {"version": 2, "payload": {}},
        400,
        "missing_field",
        "payload.reason",
    ),
    Bad("unknown field", "agent", "POST", "/cases", complaint(colour="red"), 400, "unknown_field", "colour"),
    Bad(
        "unknown payload field",
        "worker1",
        "POST",
        f"{D}/accept",
        {"version": 2, "payload": {"fast": True}},
        400,
        "unknown_field",
        "payload.fast",
    ),
    Bad(
        "unknown enum value",
        "agent",
        "POST",
        "/cases",
        complaint(type="praise"),
        400,
        "invalid_value",
        "type",
    ),
    Bad("latitude 91", "agent", "POST", "/cases", complaint(lat=91), 400, "invalid_value", "lat"),
    Bad("longitude -181", "agent", "POST", "/cases", complaint(lon=-181), 400, "invalid_value", "lon"),
    Bad(
        "latitude without longitude",
        "agent",
        "POST",
        "/cases",
        complaint(lon=None),
        422,
        "invalid_location",
        "lat",
    ),
    Bad(
        "id beyond integer range",
        "agent",
        "POST",
        "/cases",
        complaint(category_id=2**40),
        400,
        "invalid_value",
    ),
    Bad(
        "NUL character in text",
        "agent",
        "POST",
        "/cases",
        complaint(description="a\u0000b"),
        400,
        "invalid_value",
    ),
    Bad(
        "empty reason",
        "worker1",
        "POST",
        f"{D}/return",
        {"version": 2, "payload": {"reason": " "}},
        422,
        "invalid_payload",
        "reason",
    ),
    Bad(
        "extension of 3 million days",
        "worker1",
        "POST",
        f"{D}/request-extension",
        {"version": 2, "payload": {"days": 3_000_000, "reason": "forever"}},
        422,
        "invalid_payload",
        "days",
    ),
    Bad("missing query parameter", "admin", "GET", "/map/cases", None, 400, "missing_parameter", "bbox"),
    Bad(
        "query parameter of the wrong type",
        "agent",
        "GET",
        "/cases?limit=many",
        None,
        400,
        "wrong_type",
        "limit",
    ),
    Bad("unknown case", "agent", "GET", "/cases/{missing}", None, 404, "case_not_found", "case_id"),
    Bad(
        "unknown case in a transition",
        "agent",
        "POST",
        "/cases/{missing}/note",
        {"version": 1, "payload": {"text": "hello"}},
        404,
        "case_not_found",
        "case_id",
    ),
    Bad("case id not a UUID", "agent", "GET", "/cases/12345", None, 404, "not_found"),
    Bad(
        "unknown category",
        "agent",
        "POST",
        "/cases",
        complaint(category_id=987654),
        422,
        "unknown_category",
        "category_id",
    ),
    Bad(
        "unknown unit",
        "agent",
        "POST",
        f"{R}/dispatch",
        {"version": 1, "payload": {"unit_id": 987654}},
        422,
        "unknown_unit",
        "unit_id",
    ),
    Bad(
        "unknown accused unit",
        "agent",
        "POST",
        "/cases",
        complaint(type="report", accused_unit_id=987654),
        422,
        "unknown_id",
        "accused_unit_id",
    ),
    Bad(
        "unknown assignee",
        "agent",
        "POST",
        f"{D}/assign",
        {"version": 2, "payload": {"assignee_id": 987654}},
        422,
        "invalid_assignee",
        "assignee_id",
    ),
    Bad(
        "another action's payload field",
        "worker1",
        "POST",
        f"{D}/note",
        {"version": 2, "payload": {"text": "x", "photo_ids": []}},
        400,
        "unknown_field",
        "payload.photo_ids",
    ),
    Bad("forbidden transition", "agent", "POST", f"{D}/close", {"version": 2}, 409, "invalid_transition"),
    Bad(
        "resolve a registered case",
        "worker1",
        "POST",
        f"{R}/resolve",
        {"version": 1, "payload": {"photo_ids": [MISSING]}},
        409,
        "invalid_transition",
    ),
    Bad(
        "answer a complaint",
        "agent",
        "POST",
        f"{R}/answer",
        {"version": 1, "payload": {"text": "ok"}},
        409,
        "invalid_transition",
    ),
    Bad(
        "wrong role: worker dispatches",
        "worker1",
        "POST",
        f"{R}/dispatch",
        {"version": 1, "payload": {"unit_id": 1}},
        403,
        "forbidden_role",
    ),
    Bad("wrong role: agent accepts", "agent", "POST", f"{D}/accept", {"version": 2}, 403, "forbidden_role"),
    Bad(
        "wrong role: evaluator registers", "evaluator1", "POST", "/cases", complaint(), 403, "forbidden_role"
    ),
    Bad("out of scope: read", "worker2", "GET", D, None, 404, "case_not_found", "case_id"),
    Bad(
        "out of scope: accept",
        "worker2",
        "POST",
        f"{D}/accept",
        {"version": 2},
        404,
        "case_not_found",
        "case_id",
    ),
    Bad("stale version", "worker1", "POST", f"{D}/accept", {"version": 1}, 409, "stale_version", "version"),
    Bad("no token", None, "POST", "/cases", complaint(), 401, "unauthorized"),
    Bad("invalid token", "nobody", "POST", f"{D}/accept", {"version": 2}, 401, "unauthorized"),
    Bad(
        "wrong password",
        None,
        "POST",
        "/auth/login",
        {"username": "agent", "password": "guess"},
        401,
        "invalid_credentials",
    ),
    Bad(
        "oversize body",
        "agent",
        "POST",
        "/cases",
        json.dumps(complaint(description="x" * (2 * 1024 * 1024))).encode(),
        413,
        "body_too_large",
    ),
    Bad("unknown light filter", "agent", "GET", "/cases?light=blue", None, 400, "invalid_value", "light"),
    Bad("page size 0", "agent", "GET", "/cases?limit=0", None, 400, "invalid_value", "limit"),
]


class Scene(NamedTuple):
    world: World
    ids: dict[str, str]
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def scene(client) -> Scene:
    # One district for the whole table: every row must leave it exactly as it found it.
    world = await build_world()
    headers = {}
    for name in ("agent", "admin", "worker1", "worker2", "evaluator1"):
        r = await client.post("/auth/login", json={"username": world.usernames[name], "password": PASSWORD})
        headers[name] = {"Authorization": f"Bearer {r.json()['token']}"}
    registered = await new_case(client, headers["agent"], world)
    dispatched = await new_case(client, headers["agent"], world, dispatch_to="street")
    assert (registered["version"], dispatched["version"]) == (1, 2)
    ids = {"registered": registered["id"], "dispatched": dispatched["id"], "missing": MISSING}
    return Scene(world, ids, headers)


async def stored(scene: Scene) -> dict[str, Any]:
    """What a refused request must leave alone: both cases' version, status and events, and the case count."""
    state: dict[str, Any] = {"cases": await Case.count().where(Case.district_id == scene.world.district_id)}
    for name in ("registered", "dispatched"):
        row = await Case.select(Case.version, Case.status).where(Case.id == scene.ids[name]).first()
        events = await CaseEvent.count().where(CaseEvent.case_id == scene.ids[name])
        state[name] = (row["version"], row["status"], events)
    return state


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("bad", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_refused_and_changes_nothing(client, scene: Scene, bad: Bad):
    headers = {"content-type": "application/json"}
    if bad.user == "nobody":
        headers["Authorization"] = "Bearer not-a-token"
    elif bad.user:
        headers.update(scene.headers[bad.user])
    content = bad.body
    if isinstance(content, dict | list):
        content = json.dumps(_fill(content, scene.ids))
    before = await stored(scene)
    r = await client.request(bad.method, bad.path.format(**scene.ids), content=content, headers=headers)
    assert r.status_code == bad.status, r.text
    body = r.json()
    assert set(body) <= {"code", "message", "field"} and body["message"]
    assert (body["code"], body.get("field")) == (bad.code, bad.field), body
    assert await stored(scene) == before
