"""`gridcase grids import|export`: the command-line side of `geo.importer`.

The progress bar and messages go to stderr, so `gridcase grids export … > FILE` writes nothing but
the GeoJSON; the import report (a table of problems and a summary) goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo.importer import LEVELS, ImportReport, district_id_by_code, export_grids, import_grids
from server.db import close_pool, start_pool

__all__ = ["add_arguments", "grids_command", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="grids_command", required=True)
    load = sub.add_parser(
        "import", help="import (or update) a district's grids from a GeoJSON FeatureCollection"
    )
    load.add_argument("file", type=Path, help="GeoJSON file")
    load.add_argument("--district", required=True, help="district code")
    load.add_argument("--check", action="store_true", help="validate and report only; write nothing")
    dump = sub.add_parser("export", help="write a district's grids as GeoJSON to stdout")
    dump.add_argument("--district", required=True, help="district code")
    dump.add_argument("--level", choices=LEVELS, help="only this level")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_on_a_pool(args))


async def _on_a_pool(args: argparse.Namespace) -> int:
    await start_pool(max_size=2)
    try:
        return await grids_command(args)
    finally:
        await close_pool()


async def grids_command(args: argparse.Namespace) -> int:
    """Run `grids import|export`; returns the exit status (1: the file has errors, 2: bad arguments)."""
    err = Console(stderr=True)
    district_id = await district_id_by_code(args.district)
    if district_id is None:
        err.print(f"[red]no district with code {args.district!r}[/red]")
        return 2
    if args.grids_command == "export":
        collection = await export_grids(district_id, args.level)
        # One Feature per line: compact, yet a changed grid is a one-line diff.
        features = b",\n".join(msgspec.json.encode(f) for f in collection["features"])
        sys.stdout.buffer.write(b'{"type":"FeatureCollection","features":[\n' + features + b"\n]}\n")
        return 0
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read {args.file}: {exc.strerror}[/red]")
        return 2
    report = await _import_with_progress(district_id, data, not args.check, err)
    _print_report(report, args.check)
    return 1 if report.errors else 0


async def _import_with_progress(
    district_id: int, data: bytes, commit: bool, console: Console
) -> ImportReport:
    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        return await import_grids(district_id, data, commit=commit, progress=progress)


def _print_report(report: ImportReport, check: bool) -> None:
    out = Console()
    if report.problems:
        table = Table(title="Problems")
        for column in ("severity", "kind", "code", "other", "area m²", "at (lon, lat)", "message"):
            table.add_column(column, justify="right" if column == "area m²" else "left")
        for p in report.problems:
            style = "red" if p.severity == "error" else "yellow"
            table.add_row(
                f"[{style}]{p.severity}[/{style}]",
                p.kind,
                p.code or "",
                p.other or "",
                f"{p.area_m2:,.1f}" if p.area_m2 is not None else "",
                f"{p.at[0]:.6f}, {p.at[1]:.6f}" if p.at else "",
                p.message,
            )
        out.print(table)
    if report.committed:
        outcome = "imported"
    elif check:
        outcome = "checked, nothing written (--check)"
    else:
        outcome = "[red]rolled back: fix the errors and import again[/red]"
    out.print(
        f"{report.features} features: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.rejected} rejected; "
        f"{len(report.errors)} errors, {len(report.problems) - len(report.errors)} warnings — {outcome}"
    )
