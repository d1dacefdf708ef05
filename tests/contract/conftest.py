"""The server as a phone reaches it: `gridcase run` in a subprocess, spoken to over loopback HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from server.cluster import free_port


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("server")
    env = {**os.environ, "GRIDCASE_PORT": str(port), "GRIDCASE_PHOTO_DIR": str(workdir / "photos"),
           "GRIDCASE_LOAD_DEMO": "1"}
    env.pop("DEMO_PASSWORD", None)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "run"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"gridcase run exited with {process.returncode}: {(workdir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/schema/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("gridcase run did not answer within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
