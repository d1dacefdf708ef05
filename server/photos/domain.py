"""A stored photo's metadata as the same-angle rule and the life cycle read it (DESIGN §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

__all__ = ["PhotoKind", "PhotoMeta"]

PhotoKind = Literal["before", "after", "evidence"]


class PhotoMeta(msgspec.Struct, frozen=True, kw_only=True):
    """A stored photo's metadata (DESIGN §6). `before_id` is set on an `after` photo."""

    id: uuid.UUID
    case_id: uuid.UUID | None
    kind: PhotoKind
    lat: float
    lon: float
    accuracy_m: float
    heading: float | None
    taken_at: datetime
    sha256: str
    size: int
    content_type: str
    before_id: uuid.UUID | None = None
