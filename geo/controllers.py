"""HTTP endpoints of `geo/`: the map console's queries, point lookup, repeats, route suggestions,
routing rules. Each handler checks the role and makes one service call.

No `from __future__ import annotations` here: Litestar reads the handlers' annotations at runtime.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from geo import assign, joins, mapping, repeats, routing
from geo.importer import Level
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES, CONSOLE_ROLES, MAP_ROLES
from server.cases.schemas import CaseOut
from server.http import ERROR_RESPONSES

__all__ = [
    "GEO_ROUTES",
    "LinkRepeatRequest",
    "MapController",
    "RepeatController",
    "RouteSuggestionController",
    "RoutingRuleController",
]

GEOJSON = "application/geo+json"  # RFC 7946 §12


class LinkRepeatRequest(msgspec.Struct, forbid_unknown_fields=True):
    repeat_of: uuid.UUID


class MapController(Controller):
    path = "/map"
    tags = ["map"]

    @get("/grids", operation_id="mapGrids", media_type=GEOJSON, responses=ERROR_RESPONSES)
    async def grids(
        self,
        actor: NamedDependency[Actor],
        level: Annotated[Level, QueryParameter(description="grid level")] = "cell",
        zoom: Annotated[
            int, QueryParameter(ge=0, le=22, description="map zoom; sets the simplification")
        ] = 14,
    ) -> mapping.GridFeatureCollection:
        require_role(actor, MAP_ROLES, "read the map")
        return await mapping.grids_geojson(actor.district_id, level, zoom)

    @get("/cases", operation_id="mapCases", media_type=GEOJSON, responses=ERROR_RESPONSES)
    async def cases_in_box(
        self,
        actor: NamedDependency[Actor],
        bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat (WGS84)")],
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 5_000,
    ) -> mapping.CaseFeatureCollection:
        require_role(actor, MAP_ROLES, "read the map")
        return await mapping.cases_in_bbox(actor, mapping.parse_bbox(bbox), datetime.now(UTC), limit)

    @get("/cells/counts", operation_id="mapCellCounts", responses=ERROR_RESPONSES)
    async def counts(self, actor: NamedDependency[Actor]) -> mapping.CellCounts:
        require_role(actor, MAP_ROLES, "read the map")
        return await mapping.cell_counts(actor, datetime.now(UTC))

    @get("/locate", operation_id="locatePoint", responses=ERROR_RESPONSES)
    async def locate_point(
        self,
        actor: NamedDependency[Actor],
        lat: Annotated[float, QueryParameter(ge=-90, le=90)],
        lon: Annotated[float, QueryParameter(ge=-180, le=180)],
    ) -> assign.LocateOut:
        return await assign.locate_point(actor.district_id, lat, lon)


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`version`: the merged case's version the caller saw (a stale one answers 409)."""

    into: uuid.UUID
    version: int | None = None


class RepeatController(Controller):
    """Likely repeats of a case, confirming one, and joining a further complainant's report to it
    (DESIGN §9); paths under /cases as clients know them."""

    path = "/cases"
    tags = ["cases"]

    @get("/{case_id:uuid}/repeats", operation_id="caseRepeats", responses=ERROR_RESPONSES)
    async def list_repeats(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]
    ) -> list[repeats.RepeatCandidate]:
        return await repeats.find_repeats(case_id, actor)

    @post(
        "/{case_id:uuid}/link-repeat",
        operation_id="caseLinkRepeat",
        status_code=200,
        responses=ERROR_RESPONSES,
    )
    async def link_repeat(
        self,
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[LinkRepeatRequest],
    ) -> CaseOut:
        return await repeats.link_repeat(case_id, data.repeat_of, actor)

    @post(
        "/{case_id:uuid}/complainants",
        operation_id="caseJoinReport",
        status_code=201,
        responses=ERROR_RESPONSES,
    )
    async def join_report(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID], data: JSONBody[joins.JoinIn]
    ) -> joins.Joined:
        """A report of the same problem joins this open case as a further complainant (一事一单)."""
        return await joins.join_report(case_id, data, actor)

    @post("/{case_id:uuid}/merge", operation_id="caseMerge", status_code=200, responses=ERROR_RESPONSES)
    async def merge(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID], data: JSONBody[MergeRequest]
    ) -> joins.Joined:
        """并案: this registered case is the same problem as the earlier open case `into`, which
        takes its complainant; this one closes as merged. Answers the case it joined."""
        return await joins.merge_case(case_id, data.into, actor, data.version)

    @get("/{case_id:uuid}/complainants", operation_id="caseComplainants", responses=ERROR_RESPONSES)
    async def list_complainants(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]
    ) -> list[joins.Complainant]:
        return await joins.complainants(case_id, actor)


class RouteSuggestionController(Controller):
    """Which unit the routing rules would pick for a case (DESIGN §2, §3)."""

    path = "/cases"
    tags = ["cases"]

    @get("/{case_id:uuid}/route", operation_id="caseRoute", responses=ERROR_RESPONSES)
    async def suggest_route(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]
    ) -> routing.Route:
        return await routing.suggest_route(case_id, actor)


class RoutingRuleController(Controller):
    path = "/routing-rules"
    tags = ["routing"]

    @get("/", operation_id="listRoutingRules", responses=ERROR_RESPONSES)
    async def list_rules(
        self,
        actor: NamedDependency[Actor],
        category_id: Annotated[int | None, QueryParameter()] = None,
    ) -> list[routing.RuleOut]:
        require_role(actor, CONSOLE_ROLES, "read routing rules")
        return await routing.list_rules(actor.district_id, category_id)

    @post("/", operation_id="addRoutingRule", status_code=201, responses=ERROR_RESPONSES)
    async def add_rule(
        self, actor: NamedDependency[Actor], data: JSONBody[routing.RuleIn]
    ) -> routing.RuleOut:
        require_role(actor, ADMIN_ROLES, "change routing rules")
        return await routing.add_rule(actor.district_id, data)

    @delete("/{rule_id:int}", operation_id="deleteRoutingRule", responses=ERROR_RESPONSES)
    async def delete_rule(self, actor: NamedDependency[Actor], rule_id: FromPath[int]) -> None:
        require_role(actor, ADMIN_ROLES, "change routing rules")
        await routing.delete_rule(actor.district_id, rule_id)


GEO_ROUTES = [MapController, RepeatController, RouteSuggestionController, RoutingRuleController]
