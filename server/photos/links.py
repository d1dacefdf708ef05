"""A case's photos as the life cycle reads them, and linking the photos a resolution names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from server.photos.domain import PhotoMeta
from server.tables import Photo

__all__ = ["attach_photos", "photo_metas"]


async def photo_metas(district_id: int, ids: Sequence[uuid.UUID]) -> tuple[PhotoMeta, ...]:
    """The stored photos of the district among `ids` (not yet uploaded ones are left out)."""
    rows = await Photo.select().where(
        (Photo.id.is_in(list(ids))) & (Photo.district_id == district_id) & (Photo.stored.eq(True))
    )
    fields = PhotoMeta.__struct_fields__
    return tuple(PhotoMeta(**{f: r[f] for f in fields}) for r in rows)


async def attach_photos(case_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    """A resolution's photos become the case's (inside the resolving transaction)."""
    if ids:
        await Photo.update({Photo.case_id: case_id}).where(Photo.id.is_in(list(ids)))
