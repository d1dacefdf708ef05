"""`/report` and `/track` as a citizen's phone shows them: Debian's Chromium at phone width reports a
problem with the phone's GPS, gets a ticket and lookup code, then tracks the case with them; the
rendered pages show what they should, never a complainant's identity, and nothing leaves the machine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Request, Route, sync_playwright

from server.db import fetch
from tests.docs.test_docs_ui import CHROMIUM, CHROMIUM_ARGS
from tests.support import CELL_POINTS, World, app_server, jpeg

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
NAME, NUMBER = "陈小梅", "13955556666"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_server(tmp_path_factory.mktemp("citizen-pages"), probe="/report") as port:
        yield f"http://127.0.0.1:{port}"


def _browse(base_url: str, district: str, shots: Path) -> dict:
    """Report, then track, in one phone-sized browser; returns what the pages showed."""
    origin = urlparse(base_url).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Route, request: Request) -> None:
        if urlparse(request.url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    lat, lon = CELL_POINTS["cell_a"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport=PHONE,
                geolocation={"latitude": lat, "longitude": lon},
                permissions=["geolocation"],
                locale="zh-CN",
            )
            page = context.new_page()
            page.route("**/*", only_this_server)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/report?district={district}", wait_until="networkidle")
            categories = page.locator("#category option").all_inner_texts()
            page.select_option("#category", label="绿化")
            page.fill("#description", "小区门口的树倒了，挡住人行道")
            page.fill("#address", "柳树路12号")
            page.click("#gps")
            page.wait_for_selector("#where:has-text('已定位')")
            page.fill("#name", NAME)
            page.fill("#phone", NUMBER)
            photo, not_a_photo = shots / "tree.jpg", shots / "notes.jpg"
            photo.write_bytes(jpeg(5, (640, 480)))
            not_a_photo.write_bytes(b"these are my notes, not a photo")
            page.set_input_files("#photos", [str(photo), str(not_a_photo)])
            page.screenshot(path=str(shots / "report-form.png"), full_page=True)
            page.click("#submit")
            page.wait_for_selector("#receipt:not([hidden])")
            page.wait_for_selector("#photo-result:not(:empty)")
            ticket, code = page.inner_text("#ticket"), page.inner_text("#code")
            photos_sent = page.inner_text("#photo-result")
            photo_errors = page.locator("#photo-errors li").all_inner_texts()
            page.screenshot(path=str(shots / "report-receipt.png"), full_page=True)
            page.click("#tracklink")
            page.wait_for_load_state("networkidle")
            prefilled = page.input_value("#ticket")
            page.fill("#code", code)
            page.click("#form button[type=submit], #form input[type=submit]")
            page.wait_for_selector("#case:not([hidden])")
            page.screenshot(path=str(shots / "track.png"), full_page=True)
            shown = {
                "status": page.inner_text("#c-status"),
                "category": page.inner_text("#c-category"),
                "timeline": page.locator("#timeline li").all_inner_texts(),
                "text": page.inner_text("body"),
                "width": page.evaluate("document.documentElement.scrollWidth"),
            }
            # At desktop width the same page keeps its narrow column and shows the same case.
            page.set_viewport_size(DESKTOP)
            page.screenshot(path=str(shots / "track-desktop.png"), full_page=True)
            shown["desktop_status"] = page.inner_text("#c-status")
            shown["desktop_width"] = page.evaluate("document.documentElement.scrollWidth")
            page.goto(f"{base_url}/report?district={district}", wait_until="networkidle")
            page.screenshot(path=str(shots / "report-desktop.png"), full_page=True)
            shown["desktop_report_form"] = page.is_visible("#form #description")
            page.goto(f"{base_url}/track?ticket={ticket}&district={district}", wait_until="networkidle")
            page.fill("#code", "00000000")
            page.click("#form button[type=submit], #form input[type=submit]")
            page.wait_for_selector("#error:not(:empty)")
            wrong = page.inner_text("#error")
        finally:
            browser.close()
    return {
        "categories": categories,
        "ticket": ticket,
        "code": code,
        "prefilled": prefilled,
        "shown": shown,
        "wrong": wrong,
        "photos_sent": photos_sent,
        "photo_errors": photo_errors,
        "errors": errors,
        "elsewhere": elsewhere,
    }


async def test_a_citizen_reports_with_gps_and_tracks_the_case_on_a_phone(base_url, world: World, tmp_path):
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt chromium)"
    district = (await fetch("SELECT code FROM districts WHERE id = {}", world.district_id))[0]["code"]
    seen = await asyncio.to_thread(_browse, base_url, district, tmp_path)
    assert seen["elsewhere"] == [] and seen["errors"] == []
    assert "绿化" in seen["categories"]
    rows = await fetch(
        "SELECT channel, grid_id, complainant_name, complainant_phone, lookup_code FROM cases "
        "WHERE district_id = {} AND ticket = {}",
        world.district_id,
        seen["ticket"],
    )
    assert rows, seen["ticket"]
    case = rows[0]
    assert case["channel"] == "web" and case["grid_id"] == world.grids["cell_a"]
    assert (case["complainant_name"], case["complainant_phone"]) == (NAME, NUMBER)
    assert seen["code"] == case["lookup_code"] and seen["prefilled"] == seen["ticket"]
    # The photo went with the report; the page told which file was not one, in Chinese.
    assert "已上传照片 1 张" in seen["photos_sent"]
    assert seen["photo_errors"] == ["notes.jpg：不是有效的照片（JPEG/PNG）"]
    photos = await fetch(
        "SELECT p.kind, p.size FROM photos p JOIN cases c ON c.id = p.case_id "
        "WHERE c.district_id = {} AND c.ticket = {}",
        world.district_id,
        seen["ticket"],
    )
    assert [(p["kind"], p["size"]) for p in photos] == [("evidence", len(jpeg(5, (640, 480))))]
    shown = seen["shown"]
    assert shown["status"].startswith("已受理") and shown["category"] == "绿化"
    assert shown["timeline"], "the public timeline lists the registration"
    assert NAME not in shown["text"] and NUMBER not in shown["text"] and NUMBER[-4:] not in shown["text"]
    # Laid out for the phone: nothing wider than its screen.
    assert shown["width"] <= PHONE["width"]
    assert seen["wrong"] and seen["ticket"] not in seen["wrong"]
    assert shown["desktop_status"] == shown["status"] and shown["desktop_width"] <= DESKTOP["width"]
    assert shown["desktop_report_form"]
    for shot in (
        "report-form.png",
        "report-receipt.png",
        "track.png",
        "track-desktop.png",
        "report-desktop.png",
    ):
        assert (tmp_path / shot).stat().st_size > 5_000
