"""The server as a phone reaches it: `gridcase run` in a subprocess, spoken to over loopback HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from server.embedded.cluster import free_port
from tests.support import running


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "GRIDCASE_PORT": str(port),
        "GRIDCASE_PHOTO_DIR": str(workdir / "photos"),
        "GRIDCASE_LOAD_DEMO": "1",
    }
    env.pop("DEMO_PASSWORD", None)
    url = f"http://127.0.0.1:{port}"
    with running(
        [sys.executable, "-m", "server.cli", "run"],
        f"{url}/schema/openapi.json",
        workdir / "server.log",
        env=env,
    ):
        yield url
