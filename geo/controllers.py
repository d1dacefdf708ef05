"""HTTP endpoints of `geo/`: the map console's queries, point lookup, repeats, routing.

No `from __future__ import annotations` here: Litestar reads the handlers' annotations at runtime.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from geo import assign, mapping, repeats, routing
from geo.importer import Level
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.cases import service as cases
from server.cases.schemas import CaseOut
from server.http import ERROR_RESPONSES

__all__ = ["GEO_ROUTES", "LinkRepeatRequest", "LocateOut"]

_CONSOLE = frozenset({"agent", "district_admin"})
GEOJSON = "application/geo+json"  # RFC 7946 §12


class LocateOut(msgspec.Struct, kw_only=True):
    """Where a point falls: its cell, or (`inside` false) the nearest cell and how far it is."""

    inside: bool
    grid_id: int | None = None
    grid_code: str | None = None
    unit_id: int | None = None
    worker_ids: list[int] = []
    nearest: assign.NearestCell | None = None


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
        require_role(actor, _CONSOLE, "read the map")
        return await mapping.grids_geojson(actor.district_id, level, zoom)

    @get("/cases", operation_id="mapCases", media_type=GEOJSON, responses=ERROR_RESPONSES)
    async def cases_in_box(
        self,
        actor: NamedDependency[Actor],
        bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat (WGS84)")],
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 5_000,
    ) -> mapping.CaseFeatureCollection:
        require_role(actor, _CONSOLE, "read the map")
        box = mapping.parse_bbox(bbox)
        return await mapping.cases_in_bbox(actor, box, datetime.now(UTC), limit)

    @get("/cells/counts", operation_id="mapCellCounts", responses=ERROR_RESPONSES)
    async def counts(self, actor: NamedDependency[Actor]) -> mapping.CellCounts:
        require_role(actor, _CONSOLE, "read the map")
        return await mapping.cell_counts(actor, datetime.now(UTC))

    @get("/locate", operation_id="locatePoint", responses=ERROR_RESPONSES)
    async def locate_point(
        self,
        actor: NamedDependency[Actor],
        lat: Annotated[float, QueryParameter(ge=-90, le=90)],
        lon: Annotated[float, QueryParameter(ge=-180, le=180)],
    ) -> LocateOut:
        placement = await assign.locate(actor.district_id, lat, lon)
        if placement is not None:
            return LocateOut(
                inside=True,
                grid_id=placement.grid_id,
                grid_code=placement.grid_code,
                unit_id=placement.unit_id,
                worker_ids=list(placement.worker_ids),
            )
        return LocateOut(inside=False, nearest=await assign.nearest_cell(actor.district_id, lat, lon))


class CaseGeoController(Controller):
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
        await repeats.link_repeat(case_id, data.repeat_of, actor)
        return await cases.case_view(case_id, actor)

    @get("/{case_id:uuid}/route", operation_id="caseRoute", responses=ERROR_RESPONSES)
    async def suggest_route(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID]
    ) -> routing.Route:
        require_role(actor, _CONSOLE, "route cases")
        return await routing.route_case(await cases.visible_state(case_id, actor))


class RoutingRuleController(Controller):
    path = "/routing-rules"
    tags = ["routing"]

    @get("/", operation_id="listRoutingRules", responses=ERROR_RESPONSES)
    async def list_rules(
        self,
        actor: NamedDependency[Actor],
        category_id: Annotated[int | None, QueryParameter()] = None,
    ) -> list[routing.RuleOut]:
        require_role(actor, _CONSOLE, "read routing rules")
        return await routing.list_rules(actor.district_id, category_id)

    @post("/", operation_id="addRoutingRule", status_code=201, responses=ERROR_RESPONSES)
    async def add_rule(
        self, actor: NamedDependency[Actor], data: JSONBody[routing.RuleIn]
    ) -> routing.RuleOut:
        require_role(actor, frozenset({"district_admin"}), "change routing rules")
        return await routing.add_rule(actor.district_id, data)

    @delete("/{rule_id:int}", operation_id="deleteRoutingRule", responses=ERROR_RESPONSES)
    async def delete_rule(self, actor: NamedDependency[Actor], rule_id: FromPath[int]) -> None:
        require_role(actor, frozenset({"district_admin"}), "change routing rules")
        await routing.delete_rule(actor.district_id, rule_id)


GEO_ROUTES = [MapController, CaseGeoController, RoutingRuleController]
