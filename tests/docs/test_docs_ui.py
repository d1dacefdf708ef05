"""The API docs at /schema as a browser shows them: Debian's Chromium, driven by Playwright, renders
the operations of the OpenAPI 3.1 document, and no request leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Request, Route, sync_playwright

from tests.support import app_server

CHROMIUM = "/usr/bin/chromium"
# shared/STACK.md: Debian's Chromium under Playwright, with nothing of its own phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_server(tmp_path_factory.mktemp("docs")) as port:
        yield f"http://127.0.0.1:{port}"


def test_schema_page_renders_the_operations_from_this_machine_alone(base_url: str, tmp_path: Path):
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt chromium)"
    origin = urlparse(base_url).netloc
    requested: list[str] = []
    elsewhere: list[str] = []

    def only_this_server(route: Route, request: Request) -> None:
        # Anything bound elsewhere is refused here, so it is recorded without leaving the machine.
        requested.append(request.url)
        if urlparse(request.url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.route("**/*", only_this_server)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/schema", wait_until="networkidle")
            # Operations, or the notice an old Swagger UI shows for OpenAPI 3.1 (.version-pragma).
            page.wait_for_selector(".opblock, .version-pragma", timeout=20_000)
            page.screenshot(path=str(tmp_path / "schema.png"))
            body = page.inner_text("body")
            assert "Unable to render this definition" not in body
            pull = page.locator(".opblock-post .opblock-summary-path[data-path='/sync/pull']")
            assert pull.inner_text().strip() == "/sync/pull"
            methods_paths = {
                (
                    block.locator(".opblock-summary-method").inner_text().strip(),
                    block.locator(".opblock-summary-path").get_attribute("data-path"),
                )
                for block in page.locator(".opblock").all()
            }
        finally:
            browser.close()
    assert {("POST", "/sync/pull"), ("POST", "/sync/push"), ("POST", "/auth/login")} <= methods_paths
    assert len(methods_paths) >= 20, methods_paths
    assert "Gridcase API" in body
    assert not errors, errors
    assert not elsewhere, elsewhere
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requested), requested
