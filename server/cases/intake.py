"""Intake (登记): the one way a case is registered, from the case API, a patrol push, or the demo.

It checks what the caller names (category, accused unit or person) belongs to the district, places
the point in its grid cell, and stores the case with its first event. Point → cell is geo's
concern: the caller passes `locate` (geo.assign.cell_at), so cases never import geo.

With an address book (geo.addresses, passed the same way) a case is also placed from what was
typed: a point from a device always wins (`gps`) and, with no address typed, takes the nearest
register entry's; an address with no point takes the point of the entry that clearly matches it
(`geocoded`, with the entry and its score), or else keeps the address alone and `needs_location`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import msgspec

from server.cases import service
from server.cases.domain import AddressMatch, CaseState, Location
from server.cases.schemas import CaseCreate, Registration
from server.db import transaction
from server.errors import DomainError

__all__ = ["AddressBook", "Geocoded", "LocateCell", "register_case"]

# (district_id, lat, lon) → the id of the grid cell holding the point, or None outside every cell.
LocateCell = Callable[[int, float, float], Awaitable[int | None]]


class Geocoded(msgspec.Struct, frozen=True, kw_only=True):
    """The register entry that clearly answers a typed address, and its point."""

    match: AddressMatch
    lat: float
    lon: float


@runtime_checkable  # Litestar checks an injected dependency against its annotation
class AddressBook(Protocol):
    """The address register as intake needs it (geo.addresses.search.AddressRegister)."""

    async def geocode(self, district_id: int, address: str) -> Geocoded | None:
        """The clearly best entry for the address; None when candidates are close or weak."""
        ...

    async def nearest(self, district_id: int, lat: float, lon: float) -> AddressMatch | None:
        """The nearest entry within a sane distance of the point, or None."""
        ...


async def register_case(
    body: CaseCreate, who: Registration, locate: LocateCell, addresses: AddressBook | None = None
) -> CaseState:
    """Register a case, or raise DomainError (422) naming the field at fault; nothing is stored then."""
    if (body.lat is None) != (body.lon is None):
        raise DomainError("invalid_location", "give both lat and lon, or neither", "lat", 422)
    await _check_references(body, who.district_id)
    body, location = await _place(body, who.district_id, addresses)
    async with transaction():
        located = body.lat is not None and body.lon is not None
        grid_id = await locate(who.district_id, body.lat, body.lon) if located else None  # type: ignore[arg-type]
        return await service.register(body, who, grid_id, location)


async def _place(
    body: CaseCreate, district_id: int, addresses: AddressBook | None
) -> tuple[CaseCreate, Location]:
    """The body with the point or address the register gives it, and how it was placed."""
    address = body.address.strip()
    if body.lat is not None and body.lon is not None:
        nearest = None
        if not address and addresses is not None:
            nearest = await addresses.nearest(district_id, body.lat, body.lon)
        if nearest is not None:
            body = msgspec.structs.replace(body, address=nearest.label)
        return body, Location(source="gps", address_match=nearest)
    if not address or addresses is None:
        return body, Location(needs_location=bool(address))
    found = await addresses.geocode(district_id, address)
    if found is None:
        return body, Location(needs_location=True)
    body = msgspec.structs.replace(body, lat=found.lat, lon=found.lon)
    return body, Location(source="geocoded", address_match=found.match)


async def _check_references(body: CaseCreate, district_id: int) -> None:
    for field, table, value in (
        ("category_id", "categories", body.category_id),
        ("accused_unit_id", "units", body.accused_unit_id),
        ("accused_user_id", "app_users", body.accused_user_id),
    ):
        if value is not None and not await service.ids_in_district(table, district_id, [value]):
            code = "unknown_category" if field == "category_id" else "unknown_id"
            raise DomainError(code, f"{field} {value} is not in this district", field, 422)
