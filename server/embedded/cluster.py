"""A private PostgreSQL + PostGIS cluster for `make run` and the test suite.

Debian's server tools live outside PATH and `initdb` refuses to run as root, so as root the
cluster is owned by the `postgres` user (shared/STACK.md). The cluster listens on loopback on a
free port and on a socket folder of its own, never on Debian's default cluster.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["Cluster", "find_pg_bin", "free_port", "install_postgis", "private_cluster"]

APT_PACKAGES = ("postgresql-15", "postgresql-15-postgis-3", "postgresql-15-postgis-3-scripts")


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
    if os.geteuid() != 0:
        raise SystemExit("PostgreSQL/PostGIS are missing; run as root or set DATABASE_URL")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES], check=True, env=env
    )
    bindir = find_pg_bin()
    if not bindir:
        raise SystemExit("PostGIS install finished but no PostgreSQL with PostGIS was found")
    return bindir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One private cluster in `root`: created on first start, reused after, stopped on `stop()`."""

    def __init__(self, root: Path, bindir: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.root = root
        self.bindir = bindir
        self.port = port or free_port()
        self.pgdata = root / "pgdata"
        self.sockdir = root / "sock"
        # A throwaway test cluster need not survive a power cut; `make run`'s data should.
        self.durable = durable
        self._as_owner: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as_owner, *args], check=True, capture_output=True, text=True, **kw)

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._as_owner:
            shutil.chown(path, "postgres", "postgres")

    def start(self) -> Cluster:
        self._own(self.root)
        self._own(self.sockdir)
        # A cluster left running by a killed `make run` would refuse to start again on a new port.
        self.stop()
        if not (self.pgdata / "PG_VERSION").exists():
            self._own(self.pgdata)
            self._run(
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
        options = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if self.durable else 'off'} -c max_connections=200 -c shared_buffers=256MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.pgdata),
            "-o",
            options,
            "-l",
            str(self.root / "postgres.log"),
            "-w",
            "start",
        )
        self._wait()
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start; see {self.root / 'postgres.log'}")

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
        exists = self._run(
            *psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        ).stdout.strip()
        if not exists:
            self._run(*psql, "-c", f'CREATE DATABASE "{name}"')
        self._run(*psql, "-d", name, "-c", "CREATE EXTENSION IF NOT EXISTS postgis")
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
    """Start (creating if needed) a cluster in `root` and return it with the database's URL."""
    cluster = Cluster(root, install_postgis(), port=port, durable=durable).start()
    return cluster, cluster.create_database(database)
