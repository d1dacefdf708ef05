"""Intake (登记): the one way a case is registered, from the case API, a patrol push, or the demo.

It checks what the caller names (category, accused unit or person) belongs to the district, places
the point in its grid cell, and stores the case with its first event. Point → cell is geo's
concern: the caller passes `locate` (geo.assign.cell_at), so cases never import geo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.cases import service
from server.cases.domain import CaseState
from server.cases.schemas import CaseCreate, Registration
from server.db import transaction
from server.errors import DomainError

__all__ = ["LocateCell", "register_case"]

# (district_id, lat, lon) → the id of the grid cell holding the point, or None outside every cell.
LocateCell = Callable[[int, float, float], Awaitable[int | None]]


async def register_case(body: CaseCreate, who: Registration, locate: LocateCell) -> CaseState:
    """Register a case, or raise DomainError (422) naming the field at fault; nothing is stored then."""
    if (body.lat is None) != (body.lon is None):
        raise DomainError("invalid_location", "give both lat and lon, or neither", "lat", 422)
    await _check_references(body, who.district_id)
    async with transaction():
        located = body.lat is not None and body.lon is not None
        grid_id = await locate(who.district_id, body.lat, body.lon) if located else None  # type: ignore[arg-type]
        return await service.register(body, who, grid_id)


async def _check_references(body: CaseCreate, district_id: int) -> None:
    for field, table, value in (
        ("category_id", "categories", body.category_id),
        ("accused_unit_id", "units", body.accused_unit_id),
        ("accused_user_id", "app_users", body.accused_user_id),
    ):
        if value is not None and not await service.ids_in_district(table, district_id, [value]):
            code = "unknown_category" if field == "category_id" else "unknown_id"
            raise DomainError(code, f"{field} {value} is not in this district", field, 422)
