"""`gridcase` on the command line: serve, migrate, load the demo, load calendars.

`gridcase run` is what `make run` calls: with no DATABASE_URL it starts a private cluster under
`.data/` (or where `reachable_root` puts it), stops it again on exit, Ctrl-C or SIGTERM alike, and
serves the API on http://127.0.0.1:8000 with uvicorn on uvloop and httptools. A set-up failure is
a few lines saying what failed and what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec

from geo.addresses.cli import add_arguments as addresses_arguments
from geo.addresses.cli import run as addresses_run
from geo.cli import add_arguments as grids_arguments
from geo.cli import run as grids_run
from server.db import migrate
from server.embedded.cluster import (
    Cluster,
    SetupError,
    install_postgis,
    port_in_use,
    reachable_root,
)
from server.settings import get_settings

__all__ = ["main"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


def _database(stack: list[Cluster]) -> str:
    """DATABASE_URL if set, else the private cluster under data_dir (started, and stopped at exit)."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    asked = Path(settings.data_dir) / "postgres"
    root = reachable_root(asked)
    cluster = Cluster(root, install_postgis(), port=settings.pg_port or None)
    # On the stack before it starts: a signal while it starts must still stop it.
    stack.append(cluster)
    url = cluster.start().create_database("gridcase")
    moved = f" (the postgres user cannot enter {asked})" if root != asked else ""
    print(f"PostgreSQL cluster in {root}{moved}, port {cluster.port}", flush=True)
    os.environ["DATABASE_URL"] = url
    return url


def _with_database(fn: Callable[[argparse.Namespace, str], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        clusters: list[Cluster] = []
        try:
            url = _database(clusters)
            try:
                migrate(url)
            except RuntimeError as error:
                tail = "\n".join(str(error).strip().splitlines()[-12:])
                raise SetupError(
                    f"{tail}\nWhat to do: check that DATABASE_URL (or the private cluster, whose log "
                    "`gridcase run` printed the folder of) is a reachable PostgreSQL + PostGIS database."
                ) from None
            return fn(args, url)
        finally:
            # A second Ctrl-C while stopping must not leave the cluster half stopped.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for cluster in clusters:
                cluster.stop()
                print(f"PostgreSQL cluster in {cluster.root} stopped", flush=True)

    return wrapper


def _exit_on_signal(signum: int, frame: object) -> None:
    # Ctrl-C and SIGTERM (kill, systemd, containers) both unwind, so the cluster is stopped on the way.
    raise SystemExit(0)


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
def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    # Checked before the cluster starts, so a second `make run` says so at once.
    if port_in_use(settings.port):
        raise SetupError(
            f"port {settings.port} on 127.0.0.1 is already in use (another `gridcase run`?).\n"
            "What to do: stop that server or set GRIDCASE_PORT to a free port."
        )
    return _serve(args)


@_with_database
def _serve(args: argparse.Namespace, url: str) -> int:
    import uvicorn

    from server.app import create_app

    settings = get_settings()
    if settings.load_demo:
        from server.demo.district import load_demo, print_demo

        asyncio.run(_with_pool(load_demo, settings))
        print_demo(settings)
    print(
        f"Gridcase serves on http://{settings.host}:{settings.port}  (API docs: /schema; "
        f"uvicorn {uvicorn.__version__} on uvloop + httptools)",
        flush=True,
    )
    # Named, not "auto": a missing uvloop or httptools must fail loudly, not serve ~44 ms slower per request.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        loop="uvloop",
        http="httptools",
    )
    return 0


@command("worker")
@_with_database
def _worker(args: argparse.Namespace, url: str) -> int:
    from notify.worker import run_forever, run_pass, worker_config

    config = worker_config(get_settings())
    if args.once:
        result = asyncio.run(_with_pool(run_pass, None, config))
        print(msgspec.json.encode(result).decode())
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_with_pool(run_forever, config))
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
    worker = sub.add_parser("worker", help="run the alert worker (record due alerts, deliver them)")
    worker.add_argument("--once", action="store_true", help="run one pass and exit")
    cal = sub.add_parser("calendar-load", help="load official working-day calendar files for a district")
    cal.add_argument("district", help="district code")
    cal.add_argument("files", nargs="+", help="calendar year JSON files")
    grids_arguments(sub.add_parser("grids", help="import or export a district's grids as GeoJSON"))
    addresses_arguments(
        sub.add_parser("addresses", help="import a district's address register (CSV or GeoJSON)")
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _exit_on_signal)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        return COMMANDS[args.command](args)
    except SetupError as error:
        print(f"gridcase: {error}", file=sys.stderr)
        return 1
    except msgspec.ValidationError as error:
        print(
            f"gridcase: a setting is wrong: {error}\nWhat to do: fix that environment variable.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
