"""Photo upload slots (DESIGN §6-§7): photos travel apart from mutations.

The device asks for a slot with the photo's metadata and content hash; when the bytes are
already stored it gets `upload: null` and nothing more to send. Otherwise it uploads to a
presigned MinIO URL (then calls `finish`) or to the server's `PUT /photos/{id}/content`. Only a
checked, real image becomes `stored`, and only stored photos can resolve a case.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from server.accounts.domain import Actor
from server.cases.service import visible_state
from server.errors import DomainError
from server.photos.domain import PhotoKind
from server.photos.images import CONTENT_TYPES, inspect_image, make_thumbnail
from server.photos.same_angle import validate_gps
from server.photos.storage import PhotoStore
from server.tables import Photo

__all__ = [
    "PhotoSlotRequest",
    "PhotoSlot",
    "Upload",
    "request_slot",
    "receive_content",
    "finish_upload",
    "photo_for",
]

ALLOWED_TYPES = frozenset(CONTENT_TYPES.values())


class PhotoSlotRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A photo's metadata, announced before its bytes. `id` lets a retried request get the same slot."""

    kind: PhotoKind
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]
    size: Annotated[int, msgspec.Meta(gt=0)]
    content_type: str
    lat: float
    lon: float
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    heading: Annotated[float, msgspec.Meta(ge=0, lt=360)] | None = None
    taken_at: datetime
    id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class Upload(msgspec.Struct):
    method: Literal["PUT"]
    url: str
    # Set for a presigned upload: POST here once the bytes are sent, so the server checks them.
    finish_url: str | None = None


class PhotoSlot(msgspec.Struct):
    photo_id: uuid.UUID
    upload: Upload | None


async def _check(body: PhotoSlotRequest, actor: Actor, max_bytes: int) -> None:
    validate_gps(body.lat, body.lon, body.accuracy_m)
    if body.content_type not in ALLOWED_TYPES:
        raise DomainError(
            "unsupported_photo_type", f"photos must be one of {sorted(ALLOWED_TYPES)}", "content_type", 415
        )
    if body.size > max_bytes:
        raise DomainError("photo_too_large", f"photos are limited to {max_bytes} bytes", "size", 413)
    if body.taken_at.tzinfo is None:
        raise DomainError("invalid_payload", "taken_at needs a timezone offset", "taken_at", 422)
    if body.case_id is not None:
        await visible_state(body.case_id, actor)
    if body.kind == "after" and body.before_id is None:
        raise DomainError(
            "invalid_payload", "an after photo names the before photo it answers", "before_id", 422
        )
    if body.before_id is not None:
        before = (
            await Photo.select(Photo.kind)
            .where((Photo.id == body.before_id) & (Photo.district_id == actor.district_id))
            .first()
        )
        if before is None or before["kind"] != "before":
            raise DomainError("unknown_photo", f"no before photo {body.before_id}", "before_id", 422)


def _upload(photo_id: uuid.UUID, presigned: str | None) -> Upload:
    if presigned:
        return Upload(method="PUT", url=presigned, finish_url=f"/photos/{photo_id}/finish")
    return Upload(method="PUT", url=f"/photos/{photo_id}/content")


async def request_slot(body: PhotoSlotRequest, actor: Actor, store: PhotoStore, max_bytes: int) -> PhotoSlot:
    sha256 = body.sha256.lower()
    if body.id is not None:
        existing = (
            await Photo.select(Photo.sha256, Photo.uploaded_by_id, Photo.stored)
            .where(Photo.id == body.id)
            .first()
        )
        if existing is not None:
            if existing["sha256"] != sha256 or existing["uploaded_by_id"] != actor.user_id:
                raise DomainError("photo_id_reused", "this photo id belongs to another photo", "id", 409)
            upload = (
                None if existing["stored"] else _upload(body.id, await store.presigned_put(sha256, body.size))
            )
            return PhotoSlot(photo_id=body.id, upload=upload)
    await _check(body, actor, max_bytes)
    photo_id = body.id or uuid.uuid4()
    # Stored already (the same picture sent twice, or by another slot): costs nothing more.
    stored = await store.exists(sha256)
    await Photo.insert(
        Photo(
            id=photo_id,
            district_id=actor.district_id,
            case_id=body.case_id,
            kind=body.kind,
            before_id=body.before_id,
            sha256=sha256,
            size=body.size,
            content_type=body.content_type,
            lat=body.lat,
            lon=body.lon,
            accuracy_m=body.accuracy_m,
            heading=body.heading,
            taken_at=body.taken_at,
            stored=stored,
            uploaded_by_id=actor.user_id,
            device_id=body.device_id,
        )
    )
    return PhotoSlot(
        photo_id=photo_id,
        upload=None if stored else _upload(photo_id, await store.presigned_put(sha256, body.size)),
    )


async def photo_for(photo_id: uuid.UUID, actor: Actor) -> dict:
    """The photo row, if the actor uploaded it or can see its case."""
    row = (
        await Photo.select().where((Photo.id == photo_id) & (Photo.district_id == actor.district_id)).first()
    )
    if row is None:
        raise DomainError("photo_not_found", f"no photo {photo_id}", "photo_id", 404)
    if row["uploaded_by_id"] != actor.user_id:
        if row["case_id"] is None:
            raise DomainError("photo_not_found", f"no photo {photo_id}", "photo_id", 404)
        await visible_state(row["case_id"], actor)
    return row


async def _accept_bytes(row: dict, store: PhotoStore, data: bytes) -> None:
    """The bytes are stored and match the hash: they must also be the announced kind of image."""
    try:
        info = await asyncio.to_thread(inspect_image, data)
        if info.content_type != row["content_type"]:
            raise DomainError(
                "photo_type_mismatch",
                f"announced {row['content_type']}, got {info.content_type}",
                "content_type",
                415,
            )
    except DomainError:
        if not await Photo.exists().where((Photo.sha256 == row["sha256"]) & (Photo.stored.eq(True))):
            await store.delete(row["sha256"])
        raise
    await store.put_thumbnail(row["sha256"], await asyncio.to_thread(make_thumbnail, data))
    await Photo.update({Photo.stored: True}).where(Photo.sha256 == row["sha256"])


async def receive_content(
    photo_id: uuid.UUID, actor: Actor, stream: AsyncIterable[bytes], store: PhotoStore
) -> None:
    row = await photo_for(photo_id, actor)
    if row["stored"]:
        return
    # Keep the bytes as they stream into storage, so checking the image needs no second read.
    received: list[bytes] = []

    async def kept() -> AsyncIterator[bytes]:
        async for chunk in stream:
            received.append(chunk)
            yield chunk

    await store.put(row["sha256"], kept(), row["size"], row["content_type"])
    await _accept_bytes(row, store, b"".join(received))


async def finish_upload(photo_id: uuid.UUID, actor: Actor, store: PhotoStore) -> None:
    row = await photo_for(photo_id, actor)
    if not row["stored"]:
        await store.finish_upload(row["sha256"], row["size"], row["content_type"])
        # The bytes went straight to object storage: read them once to check them.
        await _accept_bytes(row, store, await store.get(row["sha256"]))
