"""`visibility_sql` (what lists, maps and pulls filter with) decides exactly as `can_see` (what every
single-case read and write checks), over every actor and case of a matrix, in the real database."""

from __future__ import annotations

import itertools

import msgspec

from server.cases.scope import can_see, case_scope_keys, visibility_sql
from server.db import fetch
from tests.unit.test_scope import (
    ADMIN,
    AGENT,
    BUREAU,
    CELL,
    CO,
    EVALUATOR,
    LEAD,
    LEADER,
    MEMBER,
    OTHER_CELL,
    OTHER_DISTRICT,
    OTHER_UNIT,
    UNIT_LEADER,
    WORKER,
    actor,
    make_case,
)

ACTORS = [
    AGENT,
    ADMIN,
    EVALUATOR,
    WORKER,
    MEMBER,
    LEADER,
    UNIT_LEADER,
    actor("agent", 60, district_id=OTHER_DISTRICT),
    actor("squad_member", 61, unit_id=OTHER_UNIT, unit_ids=frozenset({OTHER_UNIT})),
    actor("grid_worker", 62, grid_ids=frozenset({OTHER_CELL})),
    actor("squad_member", 5, unit_id=CO, unit_ids=frozenset({CO})),
    # Under the bureau: denied its accusations through their cell as well.
    actor("grid_worker", 63, unit_id=LEAD, grid_ids=frozenset({CELL})),
    actor("unit_leader", 64, unit_id=BUREAU, unit_ids=frozenset({BUREAU, LEAD, CO})),
]
CASES = [
    make_case(**dict(kw))
    for kw in itertools.product(
        [("status", "dispatched"), ("status", "archived")],
        [("type", "complaint"), ("type", "report")],
        [("accused_unit_id", None), ("accused_unit_id", LEAD), ("accused_unit_id", OTHER_UNIT)],
        [("accused_user_id", None), ("accused_user_id", 5)],
        [("accused_user_unit_id", None), ("accused_user_unit_id", BUREAU)],
        [("district_id", 1), ("district_id", OTHER_DISTRICT)],
    )
]


async def _sql_sees(who, cases) -> list[bool]:
    clause, args = visibility_sql(who)
    rows = msgspec.json.encode(
        [
            {"i": i, "district_id": c.district_id, "scope_keys": list(case_scope_keys(c))}
            for i, c in enumerate(cases)
        ]
    ).decode()
    found = await fetch(
        f"SELECT i, ({clause}) AS visible FROM jsonb_to_recordset({{}}::jsonb) "
        "AS cases(i int, district_id int, scope_keys varchar[]) ORDER BY i",
        *args,
        rows,
    )
    return [r["visible"] for r in found]


async def test_the_sql_visibility_is_can_see_for_every_actor_and_case(client):
    checked = seen = 0
    for who in ACTORS:
        python = [can_see(who, case) for case in CASES]
        assert await _sql_sees(who, CASES) == python, who
        checked += len(CASES)
        seen += sum(python)
    # The matrix holds both answers plenty of times, so the comparison means something.
    assert checked == len(ACTORS) * 96 and 100 < seen < checked - 100
