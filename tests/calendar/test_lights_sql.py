"""The SQL light (`light_sql`) is the Python light (`light`) at every boundary, in the real database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from server.calendar.lights import light, light_sql
from server.db import fetch


async def test_the_sql_light_is_the_python_light_at_every_boundary(client):
    at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    instants = [None, *(at + timedelta(hours=h) for h in (-3, -1, 0, 1))]
    combos = list(itertools.product(instants, instants, instants))
    expression = light_sql("v.due", "v.warn", "v.resolved", "{}::timestamptz")
    # `light_sql` names its instant twice, so it is bound twice.
    rows = await fetch(
        f"SELECT {expression} AS light "
        "FROM unnest({}::timestamptz[], {}::timestamptz[], {}::timestamptz[]) "
        "WITH ORDINALITY AS v(due, warn, resolved, i) ORDER BY v.i",
        at,
        at,
        [c[0] for c in combos],
        [c[1] for c in combos],
        [c[2] for c in combos],
    )
    sql = [r["light"] for r in rows]
    python = [light(due, warn, at, stopped_at=resolved) for due, warn, resolved in combos]
    assert len(sql) == len(combos) == 125
    assert sql == python
    assert {"green", "yellow", "red"} <= set(sql)
