"""`make run` as a visitor meets it: `gridcase run` serves real HTTP with the demo loaded, its API
docs load nothing from another host, and it stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from server.embedded.cluster import free_port
from tests.support import running

# Loading the demo into an empty database takes a few seconds; a loaded one is skipped at once.
START_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    tmp = tmp_path_factory.mktemp("run")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DEMO_PASSWORD"}
    env.update(
        GRIDCASE_PORT=str(port),
        GRIDCASE_HOST="127.0.0.1",
        GRIDCASE_PHOTO_DIR=str(tmp / "photos"),
        GRIDCASE_DATA_DIR=str(tmp / "data"),
        GRIDCASE_LOAD_DEMO="true",
    )
    log = tmp / "gridcase.log"
    # The console script `make run` calls, not `python -m`: it must find everything from any directory.
    gridcase = Path(sys.executable).with_name("gridcase")
    base = f"http://127.0.0.1:{port}"
    with running(
        [str(gridcase), "run"], f"{base}/schema/openapi.json", log, env=env, cwd=tmp, timeout=START_TIMEOUT_S
    ) as proc:
        yield base, proc, log


def test_agent_logs_in_and_lists_cases(server):
    base, _, log = server
    r = httpx.post(f"{base}/auth/login", json={"username": "agent", "password": "gridcase"})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "agent"
    r = httpx.get(f"{base}/cases", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] >= 50
    printed = log.read_text()
    assert base in printed and "gridcase-demo" in printed
    assert re.search(r"worker1\s+grid_worker", printed)


def test_api_docs_are_served_without_any_other_host(server):
    base, _, _ = server
    r = httpx.get(f"{base}/schema")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    hosts = {urlparse(u).netloc for u in re.findall(r"https?://[^\s\"'<>)]+", html)}
    assert hosts <= {urlparse(base).netloc}, hosts
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert httpx.get(urljoin(f"{base}/schema", asset)).status_code == 200, asset
    spec = httpx.get(f"{base}/schema/openapi.json").json()
    assert "/auth/login" in spec["paths"] and "/cases" in spec["paths"]


def test_stops_cleanly_on_sigint(server):
    _, proc, log = server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
