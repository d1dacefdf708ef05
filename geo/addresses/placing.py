"""Placing a case by hand (DESIGN §2): an agent resolves a case intake flagged `needs_location`,
or one placed wrongly, from a register entry or a point on the map; the cell follows the point."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from geo.assign import cell_at
from server.accounts.domain import Actor
from server.cases import service as cases
from server.cases.domain import AddressMatch, Location
from server.cases.schemas import CaseAnswer
from server.db import fetch
from server.errors import DomainError
from server.types import DbId

__all__ = ["PlaceIn", "place_case"]


class PlaceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Either a register entry (`address_id`) or a point (`lat`, `lon`)."""

    address_id: DbId | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


async def _entry(district_id: int, entry_id: int) -> tuple[tuple[float, float], AddressMatch]:
    rows = await fetch(
        "SELECT id, label, ST_Y(geom) AS lat, ST_X(geom) AS lon FROM addresses "
        "WHERE id = {} AND district_id = {}",
        entry_id,
        district_id,
    )
    if not rows:
        raise DomainError(
            "unknown_address", f"no address entry {entry_id} in this district", "address_id", 422
        )
    return (rows[0]["lat"], rows[0]["lon"]), AddressMatch(entry_id=entry_id, label=rows[0]["label"])


async def place_case(case_id: uuid.UUID, actor: Actor, body: PlaceIn) -> CaseAnswer:
    by_point = body.lat is not None and body.lon is not None
    if (body.address_id is not None) == by_point or (body.lat is None) != (body.lon is None):
        raise DomainError("invalid_location", "give either address_id, or lat and lon", "address_id", 422)
    match = None
    if body.address_id is not None:
        point, match = await _entry(actor.district_id, body.address_id)
    else:
        point = (body.lat, body.lon)  # type: ignore[assignment]
    grid_id = await cell_at(actor.district_id, *point)
    location = Location(source="placed", address_match=match, needs_location=False)
    await cases.place(case_id, actor, point, grid_id, location)
    return await cases.case_answer(case_id, actor)
