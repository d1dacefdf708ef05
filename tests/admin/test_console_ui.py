"""The map console as a district admin's browser shows it: Debian's Chromium driven by Playwright
over the app under uvicorn, on a district built through the API; no request leaves the machine."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import msgspec
from playwright.sync_api import Page, Request, Route, sync_playwright

from server.calendar.lights import light_sql
from server.db import fetch
from server.embedded.cluster import free_port
from server.settings import ROOT
from tests.api.test_transitions_api import act
from tests.docs.test_docs_ui import CHROMIUM, CHROMIUM_ARGS
from tests.geo.support import box, feature
from tests.support import PASSWORD, World, jpeg, new_case, photo_slot, running, upload_photo

SHOTS = ROOT / "test-output" / "console"


async def build_cases(client, world: World, login) -> dict:
    """Six cases: green ones, one yellow, two red; one resolved with a before/after pair, one with an
    extension request waiting."""
    agent, worker = await login("agent"), await login("worker1")
    ids = [
        (await new_case(client, agent, world, dispatch_to="street", cell=cell))["id"]
        for cell in ("cell_a", "cell_b") * 3
    ]
    now = datetime.now(UTC)
    await fetch(
        "UPDATE cases SET due_at = {}, warn_at = {} WHERE id = ANY({})",
        now - timedelta(days=1),
        now - timedelta(days=2),
        ids[:2],
    )
    await fetch("UPDATE cases SET warn_at = {} WHERE id = {}", now - timedelta(hours=1), ids[2])
    case = await act(client, worker, {"id": ids[4], "version": 2}, "accept")
    case = await act(client, worker, case, "arrive")
    before = await upload_photo(
        client,
        worker,
        photo_slot("before", jpeg(1), case_id=case["id"], heading=90.0, taken_at="2026-11-23T09:00:00+08:00"),
        jpeg(1),
    )
    after = await upload_photo(
        client,
        worker,
        photo_slot(
            "after",
            jpeg(2),
            case_id=case["id"],
            before_id=before,
            heading=100.0,
            lat=31.22512,
            taken_at="2026-11-23T10:00:00+08:00",
        ),
        jpeg(2),
    )
    await act(client, worker, case, "resolve", {"photo_ids": [before, after], "note": "fixed"})
    worker2 = await login("worker2")
    ext = await act(client, worker2, {"id": ids[5], "version": 2}, "accept")
    await act(client, worker2, ext, "request_extension", {"days": 3, "reason": "parts ordered"})
    rows = await fetch(
        f"SELECT ({light_sql()}) AS light, count(*) AS n FROM cases WHERE district_id = {{}} GROUP BY 1",
        world.district_id,
    )
    return {"ids": ids, "lights": {r["light"]: r["n"] for r in rows}, "resolved": ids[4], "extended": ids[5]}


def legend(page: Page) -> dict[str, int]:
    return {
        light: int(page.inner_text(f"#legend [data-light={light}] b")) for light in ("green", "yellow", "red")
    }


def marker_lights(page: Page) -> dict[str, int]:
    return page.evaluate(
        "() => { const t = {green: 0, yellow: 0, red: 0};"
        " for (const m of window.consoleState.cluster.getLayers()) t[m.caseLight] += 1; return t; }"
    )


def drive(base_url: str, world: World, data: dict, shots: Path) -> dict:
    origin = urlparse(base_url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_this_server(route: Route, request: Request) -> None:
        if urlparse(request.url).netloc == origin or request.url.startswith(("blob:", "data:")):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    seen: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in ((1920, 1080), (360, 740)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.route("**/*", only_this_server)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base_url}/admin")
                # Someone outside the console's roles is refused, with a reason.
                page.fill("input[name=username]", world.usernames["worker1"])
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
                seen.setdefault("refusal", page.inner_text("#login-error"))
                page.fill("input[name=username]", world.usernames["admin"])
                page.click("button[type=submit]")
                page.wait_for_selector("body[data-ready=true]", state="attached", timeout=20_000)
                page.screenshot(path=str(shots / f"map-{width}.png"))
                seen[f"legend-{width}"] = legend(page)
                seen[f"markers-{width}"] = marker_lights(page)
                seen[f"grids-{width}"] = page.locator("path.grid-cell").count()
                seen[f"scroll-{width}"] = page.evaluate("document.documentElement.scrollWidth")
            # Red only, kept in the URL: a reload shows the same view.
            page.select_option("#filters select[name=light]", "red")
            page.wait_for_function(
                "window.consoleState.markers.length > 0"
                " && window.consoleState.markers.every(m => m.caseLight === 'red')"
            )
            page.reload()
            page.wait_for_selector("body[data-ready=true]", state="attached")
            seen["red-url"] = page.url
            seen["red-markers"] = marker_lights(page)
            page.close()
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.route("**/*", only_this_server)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/admin")
            page.fill("input[name=username]", world.usernames["admin"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-ready=true]", state="attached")
            seen.update(open_case_checks(page, data, shots))
            page.click("nav button[data-tab=rankings]")
            page.wait_for_selector("#ranking-apart tr[data-unit]")
            page.click("#ranking-apart th[data-key=received]")
            page.wait_for_selector("#ranking-apart th[data-key=received]:has-text('▼')")
            seen["received-sorted"] = [
                int(t) for t in page.locator("#ranking-apart td[data-key=received]").all_inner_texts()
            ]
            page.screenshot(path=str(shots / "rankings.png"))
            # A failed alert is retried from the alerts view: it goes back to the worker.
            page.click("nav button[data-tab=alerts]")
            page.wait_for_selector("#alerts-table button.retry")
            page.click("#alerts-table button.retry")
            page.wait_for_selector("#alerts-table tr.status-pending")
            seen["retried"] = page.locator("#alerts-table button.retry").count()
            page.screenshot(path=str(shots / "alerts.png"))
            # Grid import: the file's report first, then the import on confirm.
            page.click("nav button[data-tab=calendar]")
            page.set_input_files("#grid-file", str(data["grid_file"]))
            page.wait_for_selector("#grid-report .grid-summary")
            seen["grid-check"] = page.inner_text("#grid-report .grid-summary")
            page.click("#grid-confirm")
            page.wait_for_selector("#grid-report .grid-summary:has-text('imported')")
            seen["grid-import"] = page.inner_text("#grid-report .grid-summary")
            page.screenshot(path=str(shots / "grid-import.png"))
            page.click("#logout")
            page.wait_for_selector("#login-form")
        finally:
            browser.close()
    seen["elsewhere"], seen["errors"] = elsewhere, errors
    return seen


def open_case_checks(page: Page, data: dict, shots: Path) -> dict:
    seen: dict = {}
    page.evaluate("id => window.consoleState.openCase(id)", data["resolved"])
    page.wait_for_selector("#case-panel img.photo-after[src^='blob:']")
    page.wait_for_function("[...document.querySelectorAll('#case-panel img')].every(i => i.naturalWidth > 0)")
    seen["photos"] = page.locator("#case-panel .photos img").count()
    seen["distance"] = page.inner_text("#case-panel .pair-distance")
    seen["heading"] = page.inner_text("#case-panel .pair-heading")
    page.screenshot(path=str(shots / "case-photos.png"))
    page.evaluate("id => window.consoleState.openCase(id)", data["extended"])
    page.wait_for_selector("form[data-action=approve_extension]")
    seen["due-before"] = page.inner_text("#case-panel .case-due")
    page.click("form[data-action=approve_extension] button[value=true]")
    page.wait_for_function("!document.querySelector('form[data-action=approve_extension]')")
    seen["due-after"] = page.inner_text("#case-panel .case-due")
    page.screenshot(path=str(shots / "extension-approved.png"))
    return seen


async def test_a_district_admin_works_the_console(client, world: World, login):
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt chromium)"
    data = await build_cases(client, world, login)
    # A new corner of the district, away from its cells: a district, a street, a community, a cell.
    grids = {
        "type": "FeatureCollection",
        "features": [
            feature("d-new", "district", None, box(121.50, 31.30, 121.54, 31.34), unit=None),
            feature("s-new", "street", "d-new", box(121.50, 31.30, 121.54, 31.34), unit="street"),
            feature("c-new", "community", "s-new", box(121.50, 31.30, 121.54, 31.34), unit="street"),
            feature("cell-new", "cell", "c-new", box(121.50, 31.30, 121.54, 31.34), unit="street"),
        ],
    }
    grids["features"][-1]["properties"]["name"] = "新名字"
    SHOTS.mkdir(parents=True, exist_ok=True)
    data["grid_file"] = SHOTS / "grids.geojson"
    data["grid_file"].write_bytes(msgspec.json.encode(grids))
    await fetch(
        "INSERT INTO alerts (district_id, case_id, level, recipient, recipient_role, channel, urls, message, "
        "status, attempts, last_error) VALUES ({}, {}, 'red', '13800000002', 'head', 'sms', "
        "ARRAY[]::text[], 'test', 'failed', 6, 'the gateway refused')",
        world.district_id,
        uuid.UUID(data["ids"][0]),
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    with running(command, f"{base}/admin/config", SHOTS / "server.log", env=dict(os.environ), cwd=ROOT):
        seen = await asyncio.to_thread(drive, base, world, data, SHOTS)

    assert not seen["elsewhere"], seen["elsewhere"]
    assert not seen["errors"], seen["errors"]
    assert "grid_worker cannot log in" in seen["refusal"]
    expected = {light: data["lights"].get(light, 0) for light in ("green", "yellow", "red")}
    assert expected["red"] == 2 and expected["yellow"] == 1
    for width in (1920, 360):
        assert seen[f"legend-{width}"] == expected
        assert seen[f"markers-{width}"] == expected
        assert seen[f"grids-{width}"] == 2
        assert seen[f"scroll-{width}"] <= width  # nothing sticks out sideways, even on a phone
    assert "light=red" in seen["red-url"]
    assert seen["red-markers"] == {"green": 0, "yellow": 0, "red": 2}
    assert seen["photos"] == 2
    assert seen["distance"] == "2.2 m" and seen["heading"] == "10°"
    assert seen["due-after"] != seen["due-before"]
    assert seen["received-sorted"] == sorted(seen["received-sorted"], reverse=True)
    assert seen["retried"] == 0
    assert "4 new" in seen["grid-check"] and "imported" not in seen["grid-check"]
    assert "imported" in seen["grid-import"]
    renamed = await fetch(
        "SELECT count(*) AS n FROM grids WHERE district_id = {} AND name = '新名字'", world.district_id
    )
    assert renamed[0]["n"] == 1
    rows = await fetch("SELECT status, attempts FROM alerts WHERE district_id = {}", world.district_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 0)]
