"""Accusations (举报, DESIGN §3, seed 002) read by every role at every position of a unit tree,
through every path a case travels: GET, the list, the map and its counts, repeats, route
suggestions, pulls and their tombstones, push results, photos and thumbnails.

One world for the module. The tree:

    office ─┬─ bureau ── squad
            └─ street ── csquad (the street's community squad)

and one grid cell, owned by `worker` and `worker2` (both of the street office). All cases lie in
that cell. `SEES` is written out from §3, apart from the scope rules.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from server.districts import setup as seed
from server.tables import Category, GridWorker
from tests.support import PASSWORD, add_grid, jpeg, photo_slot, square, unique_code, upload_photo

LAT, LON = 31.225, 121.465
CONSOLE = ("agent", "agent2", "admin")

USERS = {
    "agent": ("agent", "office"),
    "agent2": ("agent", "office"),
    "admin": ("district_admin", "office"),
    "evaluator": ("evaluator", None),
    "office_head": ("unit_leader", "office"),
    "bureau_leader": ("unit_leader", "bureau"),
    "squad_leader": ("squad_leader", "squad"),
    "squad_member": ("squad_member", "squad"),
    "street_leader": ("unit_leader", "street"),
    "worker": ("grid_worker", "street"),
    "worker2": ("grid_worker", "street"),
    "csquad_leader": ("squad_leader", "csquad"),
    "csquad_member": ("squad_member", "csquad"),
}
EVERYONE = frozenset(USERS)

# Who reads each case (§3): the involved, minus everyone at or under an accused unit.
SEES: dict[str, frozenset[str]] = {
    # A complaint led by the squad with the community squad helping: everybody is involved.
    "complaint": EVERYONE,
    # Against the squad; led by the bureau above it, the community squad helping, one of its
    # members assigned.
    "against_squad": EVERYONE - {"squad_leader", "squad_member"},
    # Against the bureau's leader: the bureau and its squad are his. Led by the office, the street
    # office helping, `worker` assigned.
    "against_leader": EVERYONE
    - {"bureau_leader", "squad_leader", "squad_member", "csquad_leader", "csquad_member"},
    # Against the street office, high above the cell's workers and the community squad; led by
    # the office with the bureau helping. Its grid workers lose it even in their own cell.
    "against_street": EVERYONE
    - {
        "street_leader",
        "worker",
        "worker2",
        "csquad_leader",
        "csquad_member",
        "squad_leader",
        "squad_member",
    },
    # Against an agent, who leads no unit: still registered, so read by the district's roles and
    # the cell's workers, never by the accused agent.
    "against_agent": frozenset({"agent", "admin", "evaluator", "worker", "worker2"}),
    # Against the office, the root of the tree: everyone in a unit is at or under it. Only the
    # evaluator, in no unit, reads it; it cannot be dispatched inside the district.
    "against_office": frozenset({"evaluator"}),
}
# Route suggestion for the accusations a console user may see: the nearest unit above the accused.
SUPERIOR = {"against_squad": "bureau", "against_leader": "office", "against_street": "office"}


class World:
    def __init__(self) -> None:
        self.units: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.devices: dict[str, str] = {}
        self.cases: dict[str, dict] = {}
        self.photos: dict[str, str] = {}
        self.cursors: dict[str, str] = {}
        self.categories: dict[str, int] = {}
        self.cell = 0
        self.refusals: dict[str, tuple[int, str]] = {}
        # A complaint registered after all the cases, same category, place and caller: all of them
        # are its likely repeats.
        self.probe: dict = {}


async def _post(client: httpx.AsyncClient, headers: dict, path: str, body: dict) -> httpx.Response:
    return await client.post(path, headers=headers, json=body)


async def _register(client, w: World, name: str, **fields) -> dict:
    body = {
        "type": "report",
        "description": f"case {name}",
        "category_id": w.categories["conduct"],
        "lat": LAT,
        "lon": LON,
        "complainant_phone": "13812345678",
        **fields,
    }
    r = await _post(client, w.headers["agent"], "/cases", body)
    assert r.status_code == 201, r.text
    return r.json()


async def _dispatch(client, w: World, case: dict, **payload) -> httpx.Response:
    return await _post(
        client,
        w.headers["admin"],
        f"/cases/{case['id']}/dispatch",
        {"version": case["version"], "payload": payload},
    )


async def _build(client: httpx.AsyncClient) -> World:
    w = World()
    code = unique_code("SEC")
    district = await seed.create_district(code, f"Accusation district {code}")
    for unit, parent in (
        ("office", None),
        ("bureau", "office"),
        ("squad", "bureau"),
        ("street", "office"),
        ("csquad", "street"),
    ):
        w.units[unit] = await seed.add_unit(
            district,
            unit,
            unit.title(),
            parent_id=w.units[parent] if parent else None,
            head=(f"{unit} head", "13800000000"),
        )
    for name, (role, unit) in USERS.items():
        w.users[name] = await seed.add_user(
            district, f"{name}-{code}", name, role, PASSWORD, unit_id=w.units[unit] if unit else None
        )
    w.cell = await add_grid(
        district,
        "cell",
        "cell",
        square(121.46, 31.22, 0.01),
        unit_id=w.units["street"],
        worker_ids=(w.users["worker"], w.users["worker2"]),
    )
    w.categories = {
        r["code"]: r["id"] for r in await Category.select().where(Category.district_id == district)
    }
    for name in USERS:
        r = await client.post("/auth/login", json={"username": f"{name}-{code}", "password": PASSWORD})
        assert r.status_code == 200, r.text
        w.headers[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await _post(
            client, w.headers[name], "/devices", {"name": name, "platform": "android", "app_version": "1"}
        )
        w.devices[name] = r.json()["device_id"]
    u = w.units

    complaint = await _register(client, w, "complaint", type="complaint")
    r = await _dispatch(client, w, complaint, unit_id=u["squad"], co_unit_ids=[u["csquad"]])
    w.cases["complaint"] = r.json()

    # Against the squad: neither it, nor a sibling, nor anyone of it; the bureau above it may.
    case = await _register(client, w, "against_squad", accused_unit_id=u["squad"])
    for key, payload in (
        ("squad_as_co_unit", {"unit_id": u["bureau"], "co_unit_ids": [u["squad"]]}),
        ("sibling_leads", {"unit_id": u["street"]}),
        ("squad_member_assigned", {"unit_id": u["bureau"], "assignee_id": w.users["squad_member"]}),
    ):
        r = await _dispatch(client, w, case, **payload)
        w.refusals[key] = (r.status_code, r.json()["code"])
    r = await _dispatch(
        client, w, case, unit_id=u["bureau"], co_unit_ids=[u["csquad"]], assignee_id=w.users["csquad_member"]
    )
    assert r.status_code == 200, r.text
    w.cases["against_squad"] = r.json()

    # Against the bureau's leader: not to a street unit with squad1 (under his bureau) assigned.
    case = await _register(client, w, "against_leader", accused_user_id=w.users["bureau_leader"])
    for key, payload in (
        ("leader_unit_leads", {"unit_id": u["bureau"]}),
        (
            "street_with_squad_leader",
            {"unit_id": u["office"], "co_unit_ids": [u["street"]], "assignee_id": w.users["squad_leader"]},
        ),
    ):
        r = await _dispatch(client, w, case, **payload)
        w.refusals[key] = (r.status_code, r.json()["code"])
    r = await _dispatch(
        client, w, case, unit_id=u["office"], co_unit_ids=[u["street"]], assignee_id=w.users["worker"]
    )
    assert r.status_code == 200, r.text
    w.cases["against_leader"] = r.json()

    case = await _register(client, w, "against_street", accused_unit_id=u["street"])
    r = await _dispatch(client, w, case, unit_id=u["office"], co_unit_ids=[u["bureau"]])
    assert r.status_code == 200, r.text
    w.cases["against_street"] = r.json()

    w.cases["against_agent"] = await _register(client, w, "against_agent", accused_user_id=w.users["agent2"])
    # The registering agent sits in the accused unit: the write is stored, its answer a receipt.
    w.cases["against_office"] = await _register(client, w, "against_office", accused_unit_id=u["office"])

    w.probe = await _register(client, w, "probe", type="complaint")
    # A photo of each case the admin can see, uploaded by the admin.
    for n, (name, case) in enumerate(w.cases.items()):
        if "admin" in SEES[name]:
            w.photos[name] = await upload_photo(
                client,
                w.headers["admin"],
                photo_slot("evidence", jpeg(n + 1), case_id=case["id"]),
                jpeg(n + 1),
            )
    # Every handheld's first pull, for the tombstone test.
    for name in USERS:
        w.cursors[name] = (await _pull_all(client, w, name))[2]
    return w


async def _pull_all(client, w: World, name: str, cursor: str | None = None) -> tuple[set[str], set[str], str]:
    ids: set[str] = set()
    gone: set[str] = set()
    while True:
        r = await _post(
            client,
            w.headers[name],
            "/sync/pull",
            {"device_id": w.devices[name], "cursor": cursor, "limit": 50},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        ids |= {c["id"] for c in body["cases"]}
        gone |= set(body["tombstones"])
        cursor = body["cursor"]
        if not body["has_more"]:
            return ids, gone, cursor


@pytest.fixture(scope="module")
async def w(client: httpx.AsyncClient) -> World:
    return await _build(client)


def ours(w: World, ids) -> set[str]:
    """The names of this world's cases among `ids`."""
    by_id = {c["id"]: name for name, c in w.cases.items()}
    return {by_id[i] for i in ids if i in by_id}


def visible_to(user: str) -> set[str]:
    return {case for case, readers in SEES.items() if user in readers}


# --- writes the rules refuse, and the one they store out of the writer's sight -----------------


async def test_accusations_never_go_to_or_under_the_accused(w: World):
    assert w.refusals == {
        "squad_as_co_unit": (422, "accused_unit"),
        "sibling_leads": (422, "not_superior_unit"),
        "squad_member_assigned": (422, "accused_unit"),
        "leader_unit_leads": (422, "accused_unit"),
        "street_with_squad_leader": (422, "accused_unit"),
    }


async def test_an_agent_accusing_their_own_unit_gets_a_receipt_not_a_404(w: World, client):
    assert w.cases["against_agent"]["view"] == "case"
    receipt = w.cases["against_office"]
    assert receipt == {
        "view": "receipt",
        "id": receipt["id"],
        "ticket": receipt["ticket"],
        "version": 1,
        "status": "registered",
        "light": "green",
    }
    r = await client.get(f"/cases/{receipt['id']}", headers=w.headers["evaluator"])
    assert r.status_code == 200 and r.json()["ticket"] == receipt["ticket"]


# --- every path, every reader ------------------------------------------------------------------


@pytest.mark.parametrize("user", sorted(USERS))
async def test_get_and_list(w: World, client, user: str):
    got = set()
    for name, case in w.cases.items():
        r = await client.get(f"/cases/{case['id']}", headers=w.headers[user])
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            got.add(name)
        else:
            assert r.json()["code"] == "case_not_found"
    listed = (await client.get("/cases", headers=w.headers[user], params={"limit": 200})).json()["items"]
    assert got == visible_to(user)
    assert ours(w, (c["id"] for c in listed)) == visible_to(user)


@pytest.mark.parametrize("user", sorted(USERS))
async def test_first_pull(w: World, client, user: str):
    ids, gone, _ = await _pull_all(client, w, user)
    assert ours(w, ids) == visible_to(user) and not gone


@pytest.mark.parametrize("user", CONSOLE)
async def test_map_counts_repeats_and_routes(w: World, client, user: str):
    headers = w.headers[user]
    features = (
        await client.get("/map/cases", headers=headers, params={"bbox": "121.45,31.21,121.48,31.24"})
    ).json()
    assert ours(w, (f["id"] for f in features["features"])) == visible_to(user)
    cells = (await client.get("/map/cells/counts", headers=headers)).json()["cells"]
    # Every case is open and in the one cell, the probe too.
    assert [c["open"] for c in cells if c["grid_id"] == w.cell] == [len(visible_to(user)) + 1]
    r = await client.get(f"/cases/{w.probe['id']}/repeats", headers=headers)
    assert r.status_code == 200, r.text
    assert ours(w, (c["case_id"] for c in r.json())) == visible_to(user)
    for name, case in w.cases.items():
        r = await client.get(f"/cases/{case['id']}/route", headers=headers)
        if name in visible_to(user):
            assert r.status_code == 200, r.text
            if name in SUPERIOR:
                assert r.json()["lead_unit_id"] == w.units[SUPERIOR[name]], name
        else:
            assert r.status_code == 404 and r.json()["code"] == "case_not_found"


@pytest.mark.parametrize("user", sorted(USERS))
async def test_photos_and_thumbnails(w: World, client, user: str):
    if user == "admin":
        return  # the uploader always reads their own photo
    for name, photo in w.photos.items():
        for path in (f"/photos/{photo}", f"/photos/{photo}/thumbnail"):
            r = await client.get(path, headers=w.headers[user])
            assert r.status_code == (200 if name in visible_to(user) else 404), (name, path, r.text)


@pytest.mark.parametrize("user", sorted(USERS))
async def test_push_results(w: World, client, user: str):
    mutations = [
        {
            "id": str(uuid.uuid4()),
            "case_id": case["id"],
            "base_version": case["version"],
            "action": "note",
            "payload": {"text": f"{user} was here"},
        }
        for case in w.cases.values()
    ]
    r = await _post(
        client, w.headers[user], "/sync/push", {"device_id": w.devices[user], "mutations": mutations}
    )
    assert r.status_code == 200, r.text
    by_case = dict(zip(w.cases, r.json()["results"], strict=True))
    for name, result in by_case.items():
        if name in visible_to(user):
            assert result["status"] == "applied" and result["case"]["id"] == w.cases[name]["id"], result
        else:
            assert result == {
                "id": result["id"],
                "status": "rejected",
                "code": "case_not_found",
                "message": result["message"],
            }


async def test_a_worker_losing_the_cell_gets_tombstones_only_for_what_they_saw(w: World, client):
    await GridWorker.delete().where(
        (GridWorker.user_id == w.users["worker2"]) & (GridWorker.grid_id == w.cell)
    )
    _, gone, _ = await _pull_all(client, w, "worker2", w.cursors["worker2"])
    # worker2 read these through the cell; the accusations against the street office and the
    # agent never, so no tombstone names them.
    assert ours(w, gone) == visible_to("worker2") and w.probe["id"] in gone
