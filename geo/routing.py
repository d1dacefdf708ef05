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

from collections.abc import Iterable
from typing import Literal

import msgspec
from sqlalchemy import and_, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from geo.tables import CATEGORIES, GRIDS, ROUTING_RULES, UNITS, engine
from server.cases.domain import CaseState
from server.cases.service import accusation_bounds
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


async def _grid_chain(conn: AsyncConnection, district_id: int, grid_id: int) -> list[tuple[int, int | None]]:
    """(grid id, unit id) from the grid up to its root."""
    chain = (
        select(GRIDS.c.id, GRIDS.c.parent_id, GRIDS.c.unit_id, literal(0).label("depth"))
        .where(GRIDS.c.id == grid_id, GRIDS.c.district_id == district_id)
        .cte("chain", recursive=True)
    )
    parent = aliased(GRIDS)
    chain = chain.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.unit_id, chain.c.depth + 1)
        .join(chain, parent.c.id == chain.c.parent_id)
        # A parent cycle in stored data must not loop forever: five levels, a little slack.
        .where(chain.c.depth < 8)
    )
    rows = await conn.execute(select(chain.c.id, chain.c.unit_id).order_by(chain.c.depth))
    return [(r.id, r.unit_id) for r in rows]


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
    excluded, superiors = bounds.excluded, bounds.superiors

    def may_lead(unit_id: int) -> bool:
        return unit_id not in excluded and (superiors is None or unit_id in superiors)

    async with engine().connect() as conn:
        chain = await _grid_chain(conn, district_id, grid_id) if grid_id is not None else []
        depth = {gid: d for d, (gid, _) in enumerate(chain)}
        rules = []
        if category_id is not None:
            rules = (
                await conn.execute(
                    select(ROUTING_RULES).where(
                        ROUTING_RULES.c.district_id == district_id,
                        ROUTING_RULES.c.category_id == category_id,
                        ROUTING_RULES.c.grid_id.in_(list(depth)) | ROUTING_RULES.c.grid_id.is_(None),
                    )
                )
            ).all()
        rules.sort(key=lambda r: (depth.get(r.grid_id, len(chain)), r.id))
        for rule in rules:
            if may_lead(rule.unit_id):
                co = tuple(sorted(set(rule.co_unit_ids) - excluded - {rule.unit_id}))
                return Route(lead_unit_id=rule.unit_id, co_unit_ids=co, source="rule", rule_id=rule.id)
        for _, unit_id in chain:
            if unit_id is not None:
                if may_lead(unit_id):
                    return Route(lead_unit_id=unit_id, source="grid_unit")
                break
        if superiors:
            return Route(lead_unit_id=superiors[0], source="superior_unit")
        roots = (
            await conn.execute(
                select(UNITS.c.id)
                .where(UNITS.c.district_id == district_id, UNITS.c.parent_id.is_(None))
                .order_by(UNITS.c.id)
            )
        ).scalars()
        for unit_id in roots:
            if may_lead(unit_id):
                return Route(lead_unit_id=unit_id, source="district_root")
    return Route(lead_unit_id=None, source="none")


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


async def _check_in_district(
    conn: AsyncConnection, district_id: int, table, ids: Iterable[int], field: str
) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = set(
        (
            await conn.execute(
                select(table.c.id).where(table.c.id.in_(wanted), table.c.district_id == district_id)
            )
        ).scalars()
    )
    if wanted - found:
        raise DomainError("unknown_id", f"{field} {sorted(wanted - found)} not in this district", field, 422)


async def add_rule(district_id: int, rule: RuleIn) -> RuleOut:
    co_units = sorted(set(rule.co_unit_ids) - {rule.unit_id})
    async with engine().begin() as conn:
        await _check_in_district(conn, district_id, CATEGORIES, [rule.category_id], "category_id")
        await _check_in_district(conn, district_id, UNITS, [rule.unit_id], "unit_id")
        await _check_in_district(conn, district_id, UNITS, co_units, "co_unit_ids")
        if rule.grid_id is not None:
            await _check_in_district(conn, district_id, GRIDS, [rule.grid_id], "grid_id")
        rule_id = (
            await conn.execute(
                ROUTING_RULES.insert()
                .values(
                    district_id=district_id,
                    category_id=rule.category_id,
                    grid_id=rule.grid_id,
                    unit_id=rule.unit_id,
                    co_unit_ids=co_units,
                )
                .returning(ROUTING_RULES.c.id)
            )
        ).scalar_one()
    return RuleOut(
        id=rule_id,
        category_id=rule.category_id,
        grid_id=rule.grid_id,
        unit_id=rule.unit_id,
        co_unit_ids=co_units,
    )


async def list_rules(district_id: int, category_id: int | None = None) -> list[RuleOut]:
    query = select(ROUTING_RULES).where(ROUTING_RULES.c.district_id == district_id)
    if category_id is not None:
        query = query.where(ROUTING_RULES.c.category_id == category_id)
    async with engine().connect() as conn:
        rows = await conn.execute(query.order_by(ROUTING_RULES.c.id))
    return [
        RuleOut(
            id=r.id,
            category_id=r.category_id,
            grid_id=r.grid_id,
            unit_id=r.unit_id,
            co_unit_ids=list(r.co_unit_ids),
        )
        for r in rows
    ]


async def delete_rule(district_id: int, rule_id: int) -> None:
    async with engine().begin() as conn:
        deleted = await conn.execute(
            ROUTING_RULES.delete().where(
                and_(ROUTING_RULES.c.id == rule_id, ROUTING_RULES.c.district_id == district_id)
            )
        )
    if deleted.rowcount == 0:
        raise DomainError("rule_not_found", f"no routing rule {rule_id} in this district", "rule_id", 404)
