"""Getting a database ready: a private cluster when none is given, PostGIS, Piccolo migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.cluster import Cluster, install_postgis
from server.settings import ROOT

__all__ = ["migrate", "private_cluster"]


def private_cluster(root: Path, database: str, port: int | None = None, *,
                    durable: bool = True) -> tuple[Cluster, str]:
    """Start (creating if needed) a cluster in `root` and return it with the database's URL."""
    cluster = Cluster(root, install_postgis(), port=port, durable=durable).start()
    return cluster, cluster.create_database(database)


def migrate(database_url: str) -> None:
    """Apply Piccolo migrations in a child process, so this process's engine is not created early."""
    env = {**os.environ, "DATABASE_URL": database_url, "PICCOLO_CONF": "piccolo_conf"}
    piccolo = [sys.executable, "-m", "piccolo.main", "migrations", "forwards", "all"]
    done = subprocess.run(piccolo, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or "failed" in done.stdout.lower():
        raise RuntimeError(f"migrations failed:\n{done.stdout}\n{done.stderr}")
