"""HTTP endpoints of the address register: search as the agent types, and the nearest entry.

No `from __future__ import annotations` here: Litestar reads the handlers' annotations at runtime.
"""

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from geo.addresses.placing import PlaceIn, place_case
from geo.addresses.search import Candidate, nearest_entry, search
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import FIELD_ROLES, INTAKE_ROLES, REGISTRAR_ROLES
from server.cases.domain import AddressMatch
from server.cases.schemas import CaseAnswer
from server.http import ERROR_RESPONSES
from server.settings import Settings

__all__ = ["AddressController", "AddressSearch", "NearestAddress", "PlacementController"]

# Who types or reports addresses: the complaint office and the people in the field.
_READERS = REGISTRAR_ROLES | FIELD_ROLES


class AddressSearch(msgspec.Struct):
    candidates: list[Candidate]


class NearestAddress(msgspec.Struct):
    """The nearest entry, or null when none lies within the configured distance."""

    entry: AddressMatch | None


class AddressController(Controller):
    path = "/geo/addresses"
    tags = ["addresses"]

    @get("/", operation_id="searchAddresses", responses=ERROR_RESPONSES)
    async def search_addresses(
        self,
        actor: NamedDependency[Actor],
        q: Annotated[str, QueryParameter(min_length=1, max_length=200, description="what was typed")],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    ) -> AddressSearch:
        require_role(actor, _READERS, "search addresses")
        return AddressSearch(candidates=await search(actor.district_id, q, limit))

    @get("/nearest", operation_id="nearestAddress", responses=ERROR_RESPONSES)
    async def nearest_address(
        self,
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
        lat: Annotated[float, QueryParameter(ge=-90, le=90)],
        lon: Annotated[float, QueryParameter(ge=-180, le=180)],
    ) -> NearestAddress:
        require_role(actor, _READERS, "look up addresses")
        return NearestAddress(
            entry=await nearest_entry(actor.district_id, lat, lon, settings.reverse_geocode_max_m)
        )


class PlacementController(Controller):
    path = "/cases"
    tags = ["addresses"]

    @post("/{case_id:uuid}/place", operation_id="placeCase", status_code=200, responses=ERROR_RESPONSES)
    async def place(
        self, actor: NamedDependency[Actor], case_id: FromPath[uuid.UUID], data: JSONBody[PlaceIn]
    ) -> CaseAnswer:
        """Place a case by hand (one flagged `needs_location`): a register entry or a point; the
        case takes the point's cell, `location_source: placed`, and the flag is cleared."""
        require_role(actor, INTAKE_ROLES, "place cases")
        return await place_case(case_id, actor, data)
