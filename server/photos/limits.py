"""A district's photo limits as stored: overrides of `SameAngleRules` in `districts.same_angle`."""

from __future__ import annotations

import msgspec

from server.photos.same_angle import SameAngleRules
from server.tables import District

__all__ = ["district_same_angle"]


async def district_same_angle(district_id: int) -> SameAngleRules:
    """The district's same-angle limits: its overrides over the defaults of DESIGN §6."""
    row = (
        await District.select(District.same_angle)
        .where(District.id == district_id)
        .output(load_json=True)
        .first()
    )
    return msgspec.convert((row or {}).get("same_angle") or {}, SameAngleRules)
