"""`gridcase` on the command line: serve, migrate, load the demo, load calendars.

`gridcase run` is what `make run` calls: with no DATABASE_URL it starts a private cluster under
`.data/`, stops it again on exit, and serves the API on http://127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from geo.addresses.cli import add_arguments as addresses_arguments
from geo.addresses.cli import run as addresses_run
from geo.cli import add_arguments as grids_arguments
from geo.cli import run as grids_run
from server.db import migrate
from server.embedded.cluster import private_cluster
from server.settings import get_settings

__all__ = ["main"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


def _database(stack: list) -> str:
    """DATABASE_URL if set, else the private cluster under data_dir (started, and stopped at exit)."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    cluster, url = private_cluster(Path(settings.data_dir) / "postgres", "gridcase", port=_cluster_port())
    stack.append(cluster)
    os.environ["DATABASE_URL"] = url
    return url


def _cluster_port() -> int | None:
    value = os.environ.get("GRIDCASE_PG_PORT")
    return int(value) if value else None


def _with_database(fn: Callable[[argparse.Namespace, str], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        clusters: list = []
        try:
            url = _database(clusters)
            migrate(url)
            return fn(args, url)
        finally:
            for cluster in clusters:
                cluster.stop()

    return wrapper


async def _with_pool(coro_fn, *args):
    from server.db import close_pool, start_pool

    await start_pool(max_size=4)
    try:
        return await coro_fn(*args)
    finally:
        await close_pool()


@command("migrate")
@_with_database
def _migrate(args: argparse.Namespace, url: str) -> int:
    print("migrations applied")
    return 0


@command("demo")
@_with_database
def _demo(args: argparse.Namespace, url: str) -> int:
    from server.demo.district import load_demo, print_demo

    asyncio.run(_with_pool(load_demo, get_settings()))
    print_demo(get_settings())
    return 0


@command("run")
@_with_database
def _run(args: argparse.Namespace, url: str) -> int:
    import uvicorn

    from server.app import create_app

    settings = get_settings()
    if settings.load_demo:
        from server.demo.district import load_demo, print_demo

        asyncio.run(_with_pool(load_demo, settings))
        print_demo(settings)
    print(f"Gridcase serves on http://{settings.host}:{settings.port}  (API docs: /schema)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


@command("calendar-load")
@_with_database
def _calendar_load(args: argparse.Namespace, url: str) -> int:
    from server.calendar.service import load_year_files

    loaded = asyncio.run(_with_pool(load_year_files, args.district, [Path(p) for p in args.files]))
    print(f"loaded {loaded}")
    return 0


@command("grids")
@_with_database
def _grids(args: argparse.Namespace, url: str) -> int:
    return grids_run(args)


@command("addresses")
@_with_database
def _addresses(args: argparse.Namespace, url: str) -> int:
    return addresses_run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridcase", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve the API (starts a private cluster without DATABASE_URL)")
    sub.add_parser("migrate", help="apply the database migrations")
    sub.add_parser("demo", help="load the demo district (once)")
    cal = sub.add_parser("calendar-load", help="load official working-day calendar files for a district")
    cal.add_argument("district", help="district code")
    cal.add_argument("files", nargs="+", help="calendar year JSON files")
    grids_arguments(sub.add_parser("grids", help="import or export a district's grids as GeoJSON"))
    addresses_arguments(
        sub.add_parser("addresses", help="import a district's address register (CSV or GeoJSON)")
    )
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
