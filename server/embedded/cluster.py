"""A private PostgreSQL + PostGIS cluster for `make run` and the test suite.

Debian's server tools live outside PATH and `initdb` refuses to run as root, so as root the
cluster is owned by the `postgres` user (shared/STACK.md). That user cannot enter a folder such as
`/root` (mode 0700), where root naturally clones: the cluster then lives under
`/var/lib/gridcase/<hash of the folder asked for>/` instead, rather than opening up a user's home.
The cluster listens on loopback on a free port and on a socket folder of its own, never on
Debian's default cluster. Every failure of setting it up is a `SetupError` that says what failed,
with the tool's own output, and what to do.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "run_on_database",
    "scratch_cluster",
    "Cluster",
    "SetupError",
    "find_pg_bin",
    "free_port",
    "install_postgis",
    "private_cluster",
    "reachable_root",
]

APT_PACKAGES = ("postgresql-15", "postgresql-15-postgis-3", "postgresql-15-postgis-3-scripts")
# Where the cluster goes when the `postgres` user cannot reach the folder asked for.
RELOCATED_ROOT = Path("/var/lib/gridcase")
ESCAPE_HATCH = "or set DATABASE_URL to use a PostgreSQL + PostGIS database of your own"


class SetupError(Exception):
    """Setting up what the server needs failed; the message is meant for the person at the terminal."""


def _failure(what: str, error: subprocess.CalledProcessError | OSError, todo: str) -> SetupError:
    if isinstance(error, subprocess.CalledProcessError):
        output = "\n".join(s.strip() for s in (error.stderr, error.stdout) if s and s.strip())
        said = f" (exit {error.returncode})" + (f":\n{output}" if output else "")
    else:
        said = f": {error}"
    return SetupError(f"{what} failed{said}\nWhat to do: {todo}")


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    for initdb in candidates:
        bindir = Path(initdb).parent
        share = Path(str(bindir).replace("/usr/lib/", "/usr/share/").removesuffix("/bin"))
        if (share / "extension" / "postgis.control").exists():
            return bindir
    return None


def install_postgis() -> Path:
    """Install PostgreSQL and PostGIS from Debian's packages when they are missing."""
    bindir = find_pg_bin()
    if bindir:
        return bindir
    packages = " ".join(APT_PACKAGES)
    if os.geteuid() != 0:
        raise SetupError(
            f"PostgreSQL with PostGIS is not installed.\nWhat to do: run as root, or "
            f"`apt-get install {packages}`, {ESCAPE_HATCH}."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES]
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, text=True)
        subprocess.run(install, check=True, env=env, capture_output=True, text=True)
    except (subprocess.CalledProcessError, OSError) as error:
        raise _failure(
            f"installing {packages}", error, f"check the network and apt's sources, {ESCAPE_HATCH}."
        ) from None
    bindir = find_pg_bin()
    if not bindir:
        raise SetupError(
            f"{packages} were installed but no PostgreSQL with PostGIS is under /usr/lib/postgresql.\n"
            f"What to do: check `dpkg -L postgresql-15-postgis-3`, {ESCAPE_HATCH}."
        )
    return bindir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _as_owner() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def reachable_root(root: Path) -> Path:
    """`root` if the user that runs PostgreSQL can reach it, else a folder of its own that it can.

    Reaching a folder takes search rights on every folder above it, so it is enough to ask that
    user to search the deepest folder of `root`'s path that already exists.
    """
    owner = _as_owner()
    if not owner:
        return root
    existing = root.absolute()
    while not existing.exists():
        existing = existing.parent
    if subprocess.run([*owner, "test", "-x", str(existing)], capture_output=True).returncode == 0:
        return root
    digest = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:16]
    return RELOCATED_ROOT / digest


class Cluster:
    """One private cluster in `root`: created on first start, reused after, stopped on `stop()`."""

    def __init__(self, root: Path, bindir: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.root = root
        self.bindir = bindir
        self.port = port or free_port()
        self.pgdata = root / "pgdata"
        self.sockdir = root / "sock"
        self.log = root / "postgres.log"
        # A throwaway test cluster need not survive a power cut; `make run`'s data should.
        self.durable = durable
        self._as_owner = _as_owner()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, what: str, todo: str, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([*self._as_owner, *args], check=True, capture_output=True, text=True)
        except (subprocess.CalledProcessError, OSError) as error:
            raise _failure(what, error, todo) from None

    def _own(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if self._as_owner:
                shutil.chown(path, "postgres", "postgres")
        except OSError as error:
            raise _failure(
                f"creating {path}",
                error,
                f"make it writable or set GRIDCASE_DATA_DIR elsewhere, {ESCAPE_HATCH}.",
            ) from None

    def start(self) -> Cluster:
        self._own(self.root)
        self._own(self.sockdir)
        # A cluster left running by a killed `make run` would refuse to start again on a new port.
        self.stop()
        if port_in_use(self.port):
            raise SetupError(
                f"port {self.port} on 127.0.0.1 is already in use.\n"
                "What to do: set GRIDCASE_PG_PORT to a free port or leave it unset to pick one."
            )
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._start_server()
        return self

    def _initdb(self) -> None:
        self._own(self.pgdata)
        self._run(
            f"initdb of {self.pgdata}",
            f"remove {self.pgdata} if it holds nothing you need, or set GRIDCASE_DATA_DIR elsewhere, "
            f"{ESCAPE_HATCH}.",
            str(self.bindir / "initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-U",
            "postgres",
        )

    def _start_server(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if self.durable else 'off'} -c max_connections=200 -c shared_buffers=256MB"
        )
        start = [str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-o", options, "-l", str(self.log)]
        try:
            subprocess.run(
                [*self._as_owner, *start, "-w", "start"], check=True, capture_output=True, text=True
            )
        except (subprocess.CalledProcessError, OSError) as error:
            failure = _failure(
                "starting PostgreSQL (pg_ctl start)",
                error,
                f"read {self.log}; free the port or set GRIDCASE_PG_PORT, {ESCAPE_HATCH}.",
            )
            raise SetupError(f"{failure}\nLast lines of {self.log}:\n{self._log_tail()}") from None
        self._wait()

    def _log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_in_use(self.port):
                return
            time.sleep(0.1)
        raise SetupError(
            f"PostgreSQL did not listen on port {self.port} within 30 s.\n"
            f"What to do: read {self.log}:\n{self._log_tail()}"
        )

    def create_database(self, name: str) -> str:
        psql = [
            str(self.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        todo = f"check that {' '.join(APT_PACKAGES)} are installed, {ESCAPE_HATCH}."
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        if not self._run(f"looking up database {name}", todo, *psql, "-tAc", query).stdout.strip():
            self._run(f"creating database {name}", todo, *psql, "-c", f'CREATE DATABASE "{name}"')
        self._run(
            "CREATE EXTENSION postgis",
            todo,
            *psql,
            "-d",
            name,
            "-c",
            "CREATE EXTENSION IF NOT EXISTS postgis",
        )
        return self.database_url(name)

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self._as_owner,
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
            )


def private_cluster(
    root: Path, database: str, port: int | None = None, *, durable: bool = True
) -> tuple[Cluster, str]:
    """Start (creating if needed) a cluster in `root`, or where `reachable_root` puts it, and return
    it with the database's URL."""
    cluster = Cluster(reachable_root(root), install_postgis(), port=port, durable=durable).start()
    return cluster, cluster.create_database(database)


if __name__ == "__main__":
    # `make postgis`: install the server packages, or say in a few lines why that failed.
    try:
        print(f"PostgreSQL + PostGIS: {install_postgis()}")
    except SetupError as error:
        sys.exit(f"gridcase: {error}")


@contextmanager
def scratch_cluster(name: str) -> Iterator[str]:
    """A throwaway cluster with fsync off and an empty database `gridcase_<name>` (the tests and the
    benchmarks); yields its URL, then stops the cluster and removes its folder."""
    root = Path(tempfile.mkdtemp(prefix=f"gridcase-{name}-"))
    # The postgres user runs the cluster inside it.
    os.chmod(root, 0o755)
    cluster, url = private_cluster(root, f"gridcase_{name}", durable=False)
    try:
        yield url
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_on_database(run: Callable[[], Coroutine[Any, Any, int]], name: str = "bench") -> int:
    """A benchmark's entry point: `run()` on DATABASE_URL when set, else on a migrated scratch
    cluster that is removed afterwards."""
    import asyncio

    if os.environ.get("DATABASE_URL"):
        return asyncio.run(run())
    from server.db import migrate

    with scratch_cluster(name) as url:
        os.environ["DATABASE_URL"] = url
        migrate(url)
        return asyncio.run(run())
