"""`gridcase run` with no DATABASE_URL, as a newcomer meets it: its own PostgreSQL cluster, from a
checkout wherever it was cloned (a 0700 folder such as /root), stopped again on SIGTERM as on
Ctrl-C, and a set-up failure told in a few lines rather than a traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from server.embedded.cluster import free_port, port_in_use
from server.settings import ROOT
from tests.support import running

# initdb, CREATE EXTENSION postgis, the migrations and the demo, on 2 busy cores.
START_TIMEOUT_S = 120
CLUSTER_LINE = re.compile(r"PostgreSQL cluster in (\S+?)(?: \(the postgres user cannot enter (\S+)\))?, port")


def _env(**settings: str) -> dict[str, str]:
    """This environment without the test database or any Gridcase setting, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DEMO_PASSWORD"} and not k.startswith("GRIDCASE_")
    }
    return {**env, **settings}


def _gridcase(cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server.cli", "run"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@contextmanager
def socket_listening() -> Iterator[int]:
    """A loopback port some other program listens on, for as long as the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def private_folder() -> Iterator[Path]:
    """A folder of mode 0700 owned by the user running the tests, as /root is."""
    folder = Path(tempfile.mkdtemp(prefix="gridcase-home-"))
    os.chmod(folder, 0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="gridcase-srv-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _checkout(into: Path) -> Path:
    """A copy of this checkout's files (tracked, or new and not ignored), as a clone would have them."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    checkout = into / "gridcase"
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (checkout / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name.decode())
    return checkout


def _serve_and_stop(cwd: Path, env: dict[str, str], log: Path, sig: signal.Signals) -> str:
    """Start `gridcase run`, log in as the demo's agent if it loads the demo, send `sig`; returns
    what it printed."""
    base = f"http://127.0.0.1:{env['GRIDCASE_PORT']}"
    command = [sys.executable, "-m", "server.cli", "run"]
    with running(
        command, f"{base}/schema/openapi.json", log, env=env, cwd=cwd, timeout=START_TIMEOUT_S
    ) as proc:
        # Without the demo there is no agent: the users table, in the cluster, says so.
        demo = env.get("GRIDCASE_LOAD_DEMO") != "false"
        r = httpx.post(f"{base}/auth/login", json={"username": "agent", "password": "gridcase"})
        assert r.status_code == (200 if demo else 401), r.text
        if demo:
            assert r.json()["user"]["role"] == "agent"
        assert port_in_use(int(env["GRIDCASE_PG_PORT"]))
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0, log.read_text()
    return log.read_text()


def _assert_cluster_stopped(printed: str, pg_port: int) -> Path:
    found = CLUSTER_LINE.search(printed)
    assert found, printed
    root = Path(found.group(1))
    assert f"PostgreSQL cluster in {root} stopped" in printed
    assert not (root / "pgdata" / "postmaster.pid").exists()
    assert not port_in_use(pg_port)
    assert "Traceback" not in printed
    return root


def test_runs_from_a_checkout_in_a_0700_folder_and_stops_its_cluster_on_sigterm(private_folder, tmp_path):
    checkout = _checkout(private_folder)
    pg_port = free_port()
    env = _env(GRIDCASE_PORT=str(free_port()), GRIDCASE_PG_PORT=str(pg_port))
    printed = _serve_and_stop(checkout, env, tmp_path / "run.log", signal.SIGTERM)
    root = _assert_cluster_stopped(printed, pg_port)
    try:
        # The checkout's own code ran: its default data folder is the one it could not use.
        if os.geteuid() == 0:
            assert CLUSTER_LINE.search(printed).group(2) == str(checkout / ".data" / "postgres")
            assert root.parent == Path("/var/lib/gridcase")
            assert (root / "pgdata" / "PG_VERSION").exists()
        assert "uvloop + httptools" in printed
    finally:
        if root.parent == Path("/var/lib/gridcase"):
            shutil.rmtree(root, ignore_errors=True)


def test_ctrl_c_stops_the_cluster_kept_in_a_reachable_data_folder(open_folder, tmp_path):
    pg_port = free_port()
    data = open_folder / "data"
    env = _env(
        GRIDCASE_PORT=str(free_port()),
        GRIDCASE_PG_PORT=str(pg_port),
        GRIDCASE_DATA_DIR=str(data),
        GRIDCASE_PHOTO_DIR=str(open_folder / "photos"),
        GRIDCASE_LOAD_DEMO="false",  # the demo is the other test's; this one is about stopping
    )
    printed = _serve_and_stop(tmp_path, env, tmp_path / "run.log", signal.SIGINT)
    assert _assert_cluster_stopped(printed, pg_port) == data / "postgres"
    assert "cannot enter" not in printed


def test_a_cluster_that_cannot_be_created_is_told_in_a_few_lines(open_folder, tmp_path):
    # Something that is not a cluster where the cluster's data should go: initdb refuses.
    pgdata = open_folder / "data" / "postgres" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "notes.txt").write_text("mine")
    env = _env(GRIDCASE_PORT=str(free_port()), GRIDCASE_DATA_DIR=str(open_folder / "data"))
    done = _gridcase(tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "initdb" in done.stderr and "is not empty" in done.stderr  # initdb's own words
    assert "What to do:" in done.stderr and str(pgdata) in done.stderr
    assert (pgdata / "notes.txt").read_text() == "mine"


def test_a_taken_database_port_is_told_in_a_few_lines(open_folder, tmp_path):
    with socket_listening() as taken:
        env = _env(
            GRIDCASE_PORT=str(free_port()),
            GRIDCASE_PG_PORT=str(taken),
            GRIDCASE_DATA_DIR=str(open_folder / "data"),
        )
        done = _gridcase(tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"port {taken}" in done.stderr and "GRIDCASE_PG_PORT" in done.stderr


def test_a_taken_http_port_is_told_before_any_cluster_starts(open_folder, tmp_path):
    with socket_listening() as taken:
        env = _env(GRIDCASE_PORT=str(taken), GRIDCASE_DATA_DIR=str(open_folder / "data"))
        done = _gridcase(tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"port {taken}" in done.stderr and "GRIDCASE_PORT" in done.stderr
    assert not (open_folder / "data").exists()


@pytest.mark.parametrize(
    "variable, value",
    [("GRIDCASE_PORT", "eighty"), ("GRIDCASE_PORT", "99999"), ("GRIDCASE_PG_PORT", "-1")],
)
def test_a_malformed_setting_is_told_in_a_few_lines(tmp_path, variable, value):
    done = _gridcase(tmp_path, _env(**{variable: value}))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "setting" in done.stderr and "port" in done.stderr
