"""Which unit leads a case: category + grid → lead unit and co-units (DESIGN §2, §3).

Routing rules are data (`routing_rules`, per district). A rule names a category and a grid of any
level, or no grid for the whole district. For a case in a cell the candidates are tried from the
most specific to the least:

1. rules on the cell, then on its community, street, district and city, then the district-wide
   rule (several rules on the same grid: the oldest first);
2. the responsible unit of the cell, else of its nearest ancestor grid that has one;
3. the district's root unit (the complaint office: the unit without a parent, oldest first);
4. nothing: the agent dispatches by hand.

An accusation (`report`) is never routed to the unit it accuses nor to the unit of the person it
accuses, nor to any unit under them (a squad of an accused bureau would be judging its own
bureau), and it is led by a unit above the accused ones (seed 002: 上级机关):
`server.cases.service.accusation_bounds`. A rule's or the grid's unit leads it only when it is
such a superior; otherwise the nearest superior does (`source: "superior_unit"`). Accused units
are dropped from the co-units. Who reads it is the scope rules' business (`server.cases.scope`:
negative keys).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import CONSOLE_ROLES
from server.cases.domain import CaseState
from server.cases.service import AccusationBounds, accusation_bounds, ids_in_district, visible_state
from server.db import fetch, transaction
from server.errors import DomainError

__all__ = [
    "Route",
    "RuleIn",
    "RuleOut",
    "add_rule",
    "delete_rule",
    "list_rules",
    "route",
    "route_case",
    "suggest_route",
]


class Route(msgspec.Struct, frozen=True, kw_only=True):
    lead_unit_id: int | None
    co_unit_ids: tuple[int, ...] = ()
    source: Literal["rule", "grid_unit", "superior_unit", "district_root", "none"]
    rule_id: int | None = None


class RuleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    category_id: int
    unit_id: int
    grid_id: int | None = None
    co_unit_ids: list[int] = []


class RuleOut(msgspec.Struct, kw_only=True):
    id: int
    category_id: int
    grid_id: int | None
    unit_id: int
    co_unit_ids: list[int]


# (grid id, unit id) from the grid up to its root. A parent cycle in stored data must not loop
# forever: five levels, a little slack. Arguments: grid id, district id.
_GRID_CHAIN = """
WITH RECURSIVE chain AS (
    SELECT id, parent_id, unit_id, 0 AS depth FROM grids WHERE id = {} AND district_id = {}
    UNION ALL
    SELECT g.id, g.parent_id, g.unit_id, chain.depth + 1
    FROM grids g JOIN chain ON g.id = chain.parent_id
    WHERE chain.depth < 8
)
SELECT id, unit_id FROM chain ORDER BY depth
"""

# Rules on the grids of the chain or district-wide. Arguments: district id, category id, grid ids.
_CANDIDATE_RULES = """
SELECT id, grid_id, unit_id, co_unit_ids FROM routing_rules
WHERE district_id = {} AND category_id = {} AND (grid_id = ANY({}::integer[]) OR grid_id IS NULL)
"""

# The complaint office: units without a parent, oldest first. Argument: district id.
_ROOT_UNITS = "SELECT id FROM units WHERE district_id = {} AND parent_id IS NULL ORDER BY id"


async def _grid_chain(district_id: int, grid_id: int | None) -> list[tuple[int, int | None]]:
    if grid_id is None:
        return []
    return [(r["id"], r["unit_id"]) for r in await fetch(_GRID_CHAIN, grid_id, district_id)]


async def _rules(
    district_id: int, category_id: int | None, chain: list[tuple[int, int | None]]
) -> list[dict]:
    """Candidate rules, most specific first: by the depth of their grid in the chain, then oldest."""
    if category_id is None:
        return []
    depth = {grid_id: d for d, (grid_id, _) in enumerate(chain)}
    rows = await fetch(_CANDIDATE_RULES, district_id, category_id, list(depth))
    return sorted(rows, key=lambda r: (depth.get(r["grid_id"], len(chain)), r["id"]))


def _may_lead(bounds: AccusationBounds, unit_id: int) -> bool:
    """Outside the accused subtree and, for an accusation, above every accused unit."""
    return unit_id not in bounds.excluded and (bounds.superiors is None or unit_id in bounds.superiors)


def _by_rule(rules: list[dict[str, Any]], bounds: AccusationBounds) -> Route | None:
    for rule in rules:
        if _may_lead(bounds, rule["unit_id"]):
            co = tuple(sorted(set(rule["co_unit_ids"]) - bounds.excluded - {rule["unit_id"]}))
            return Route(lead_unit_id=rule["unit_id"], co_unit_ids=co, source="rule", rule_id=rule["id"])
    return None


def _by_grid_unit(chain: list[tuple[int, int | None]], bounds: AccusationBounds) -> Route | None:
    """The unit of the nearest grid that has one, if it may lead (else no grid unit at all)."""
    unit_id = next((u for _, u in chain if u is not None), None)
    if unit_id is None or not _may_lead(bounds, unit_id):
        return None
    return Route(lead_unit_id=unit_id, source="grid_unit")


def _by_superior(bounds: AccusationBounds) -> Route | None:
    """An accusation no rule or grid unit may lead goes to the nearest unit above the accused."""
    if not bounds.superiors:
        return None
    return Route(lead_unit_id=bounds.superiors[0], source="superior_unit")


async def _by_district_root(district_id: int, bounds: AccusationBounds) -> Route | None:
    for r in await fetch(_ROOT_UNITS, district_id):
        if _may_lead(bounds, r["id"]):
            return Route(lead_unit_id=r["id"], source="district_root")
    return None


async def route(
    district_id: int,
    category_id: int | None,
    grid_id: int | None,
    *,
    accused_unit_id: int | None = None,
    accused_user_id: int | None = None,
    accused_user_unit_id: int | None = None,
) -> Route:
    """The lead unit and co-units for a case; pass the accused only for a `report` (or use `route_case`)."""
    bounds = await accusation_bounds(accused_unit_id, accused_user_id, accused_user_unit_id)
    chain = await _grid_chain(district_id, grid_id)
    return (
        _by_rule(await _rules(district_id, category_id, chain), bounds)
        or _by_grid_unit(chain, bounds)
        or _by_superior(bounds)
        or await _by_district_root(district_id, bounds)
        or Route(lead_unit_id=None, source="none")
    )


async def route_case(case: CaseState) -> Route:
    """`route` for a stored case: the accused count only when the case is an accusation."""
    report = case.type == "report"
    return await route(
        case.district_id,
        case.category_id,
        case.grid_id,
        accused_unit_id=case.accused_unit_id if report else None,
        accused_user_id=case.accused_user_id if report else None,
        accused_user_unit_id=case.accused_user_unit_id if report else None,
    )


async def suggest_route(case_id: uuid.UUID, actor: Actor) -> Route:
    """Where a case the console can see would go now (the agent still dispatches by hand)."""
    require_role(actor, CONSOLE_ROLES, "route cases")
    return await route_case(await visible_state(case_id, actor))


async def _check_in_district(district_id: int, table: str, ids: list[int], field: str) -> None:
    missing = sorted(set(ids) - await ids_in_district(table, district_id, ids))
    if missing:
        raise DomainError("unknown_id", f"{field} {missing} not in this district", field, 422)


_INSERT_RULE = """
INSERT INTO routing_rules (district_id, category_id, grid_id, unit_id, co_unit_ids)
VALUES ({}, {}, {}, {}, {}::integer[]) RETURNING id
"""


async def add_rule(district_id: int, rule: RuleIn) -> RuleOut:
    co_units = sorted(set(rule.co_unit_ids) - {rule.unit_id})
    async with transaction():
        await _check_in_district(district_id, "categories", [rule.category_id], "category_id")
        await _check_in_district(district_id, "units", [rule.unit_id], "unit_id")
        await _check_in_district(district_id, "units", co_units, "co_unit_ids")
        if rule.grid_id is not None:
            await _check_in_district(district_id, "grids", [rule.grid_id], "grid_id")
        rows = await fetch(_INSERT_RULE, district_id, rule.category_id, rule.grid_id, rule.unit_id, co_units)
    return RuleOut(
        id=rows[0]["id"],
        category_id=rule.category_id,
        grid_id=rule.grid_id,
        unit_id=rule.unit_id,
        co_unit_ids=co_units,
    )


# Arguments: district id, category id or null (every category).
_LIST_RULES = """
SELECT id, category_id, grid_id, unit_id, co_unit_ids FROM routing_rules
WHERE district_id = {} AND ({}::integer IS NULL OR category_id = {})
ORDER BY id
"""


async def list_rules(district_id: int, category_id: int | None = None) -> list[RuleOut]:
    rows = await fetch(_LIST_RULES, district_id, category_id, category_id)
    return [
        RuleOut(
            id=r["id"],
            category_id=r["category_id"],
            grid_id=r["grid_id"],
            unit_id=r["unit_id"],
            co_unit_ids=list(r["co_unit_ids"]),
        )
        for r in rows
    ]


async def delete_rule(district_id: int, rule_id: int) -> None:
    deleted = await fetch(
        "DELETE FROM routing_rules WHERE id = {} AND district_id = {} RETURNING id", rule_id, district_id
    )
    if not deleted:
        raise DomainError("rule_not_found", f"no routing rule {rule_id} in this district", "rule_id", 404)
