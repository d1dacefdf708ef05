"""`gridcase addresses import FILE --district CODE [--check]`: the command-line side of the register import.

The progress bar goes to stderr; the report (a table of problem rows and a summary) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo.addresses.register import ImportReport, import_addresses
from geo.importer import district_id_by_code
from server.db import close_pool, start_pool

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="addresses_command", required=True)
    load = sub.add_parser(
        "import", help="import (or update) a district's address register from CSV or GeoJSON"
    )
    load.add_argument("file", type=Path, help="CSV or GeoJSON file")
    load.add_argument("--district", required=True, help="district code")
    load.add_argument("--check", action="store_true", help="check and report only; write nothing")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_command(args))


async def _command(args: argparse.Namespace) -> int:
    """Exit status: 0 imported cleanly, 1 some rows have problems, 2 bad arguments or file."""
    err = Console(stderr=True)
    await start_pool(max_size=4)
    try:
        district_id = await district_id_by_code(args.district)
        if district_id is None:
            err.print(f"[red]no district with code {args.district!r}[/red]")
            return 2
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            err.print(f"[red]cannot read {args.file}: {exc.strerror}[/red]")
            return 2
        try:
            report = await _import_with_progress(district_id, data, not args.check, err)
        except ValueError as exc:  # not UTF-8, not JSON, not a FeatureCollection
            err.print(f"[red]{args.file} is neither a CSV nor a GeoJSON FeatureCollection: {exc}[/red]")
            return 2
    finally:
        await close_pool()
    _print_report(report, args.check)
    return 1 if report.problems else 0


async def _import_with_progress(
    district_id: int, data: bytes, commit: bool, console: Console
) -> ImportReport:
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        return await import_addresses(district_id, data, commit=commit, progress=progress)


def _print_report(report: ImportReport, check: bool) -> None:
    out = Console()
    if report.problems:
        table = Table(title="Rows not imported")
        for column in ("line", "problem", "message"):
            table.add_column(column)
        for p in report.problems:
            table.add_row(str(p.line), p.kind, p.message)
        out.print(table)
    counts = {
        kind: sum(p.kind == kind for p in report.problems) for kind in ("malformed", "outside", "duplicate")
    }
    outcome = "checked, nothing written (--check)" if check else "imported"
    out.print(
        f"{report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged; "
        f"{counts['malformed']} malformed, {counts['outside']} outside the district, "
        f"{counts['duplicate']} duplicated — {outcome}"
    )
