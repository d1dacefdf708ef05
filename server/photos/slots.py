"""Photo upload slots (DESIGN §6-§7): photos travel apart from mutations.

The device asks for a slot with the photo's metadata and content hash; when the bytes are
already stored and this user may already see a photo with them, it gets `upload: null` and
nothing more to send (knowing a hash grants nothing). Otherwise it uploads to a
presigned MinIO URL (then calls `finish`) or to the server's `PUT /photos/{id}/content`. Only a
checked, real image becomes `stored`, and only stored photos can resolve a case.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import UTC, datetime
from typing import IO, Annotated, Literal

import msgspec

from server.accounts.domain import Actor
from server.cases.schemas import AwareDatetime
from server.cases.scope import visibility_sql
from server.cases.service import visible_state
from server.db import fetch, transaction
from server.errors import DomainError
from server.photos.domain import PhotoKind
from server.photos.images import CONTENT_TYPES, check_image
from server.photos.same_angle import validate_gps
from server.photos.storage import PhotoStore
from server.tables import Photo

__all__ = [
    "PhotoAnnounced",
    "PhotoSlotRequest",
    "PhotoSlot",
    "Upload",
    "request_slot",
    "receive_content",
    "finish_upload",
    "photo_for",
    "receive_for_case",
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
    taken_at: AwareDatetime
    id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class PhotoAnnounced(msgspec.Struct, frozen=True, kw_only=True):
    """What a complainant's upload says of its bytes before sending them."""

    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]
    size: Annotated[int, msgspec.Meta(gt=0)]
    content_type: str


class Upload(msgspec.Struct):
    method: Literal["PUT"]
    url: str
    # Set for a presigned upload: POST here once the bytes are sent, so the server checks them.
    finish_url: str | None = None


class PhotoSlot(msgspec.Struct):
    photo_id: uuid.UUID
    upload: Upload | None


def _check_announced(content_type: str, size: int, max_bytes: int) -> None:
    """What every upload must announce before its bytes are read: an allowed type, a size in bounds."""
    if content_type not in ALLOWED_TYPES:
        raise DomainError(
            "unsupported_photo_type", f"photos must be one of {sorted(ALLOWED_TYPES)}", "content_type", 415
        )
    if size > max_bytes:
        raise DomainError("photo_too_large", f"photos are limited to {max_bytes} bytes", "size", 413)


async def _check(body: PhotoSlotRequest, actor: Actor, max_bytes: int) -> None:
    validate_gps(body.lat, body.lon, body.accuracy_m)
    _check_announced(body.content_type, body.size, max_bytes)
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


# Who may see a photo, in two forms side by side: `photo_for` for one photo, and this for "any
# stored photo with these bytes" (its uploader, or whoever sees its case); `{clause}` is
# `visibility_sql`, whose bare column names resolve to the `cases` of its subquery.
_SEES_BYTES = (
    "SELECT EXISTS (SELECT 1 FROM photos p WHERE p.sha256 = {{}} AND p.stored AND p.district_id = {{}} "
    "AND (p.uploaded_by_id = {{}} OR EXISTS (SELECT 1 FROM cases WHERE cases.id = p.case_id AND {clause})))"
    " AS sees"
)


async def _may_reuse(sha256: str, actor: Actor, store: PhotoStore) -> bool:
    """Stored bytes are reused without an upload only for a user who may already see a photo with
    them (DESIGN §6): knowing a hash, printed in every case view, grants nothing."""
    clause, args = visibility_sql(actor)
    rows = await fetch(_SEES_BYTES.format(clause=clause), sha256, actor.district_id, actor.user_id, *args)
    return bool(rows[0]["sees"]) and await store.exists(sha256)


async def _slot_of(photo_id: uuid.UUID, sha256: str, actor: Actor, store: PhotoStore) -> PhotoSlot | None:
    """The slot already made under this id (a retried request), or None if there is none."""
    row = (
        await Photo.select(Photo.sha256, Photo.size, Photo.uploaded_by_id, Photo.stored)
        .where(Photo.id == photo_id)
        .first()
    )
    if row is None:
        return None
    if row["sha256"] != sha256 or row["uploaded_by_id"] != actor.user_id:
        raise DomainError("photo_id_reused", "this photo id belongs to another photo", "id", 409)
    if row["stored"]:
        return PhotoSlot(photo_id=photo_id, upload=None)
    return PhotoSlot(
        photo_id=photo_id, upload=_upload(photo_id, await store.presigned_put(sha256, row["size"], photo_id))
    )


async def request_slot(body: PhotoSlotRequest, actor: Actor, store: PhotoStore, max_bytes: int) -> PhotoSlot:
    sha256 = body.sha256.lower()
    if body.id is not None and (retried := await _slot_of(body.id, sha256, actor, store)) is not None:
        return retried
    await _check(body, actor, max_bytes)
    photo_id = body.id or uuid.uuid4()
    stored = await _may_reuse(sha256, actor, store)
    inserted = (
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
        .on_conflict(target=Photo.id, action="DO NOTHING")
        .returning(Photo.id)
    )
    if not inserted:
        # A concurrent retry of this very request inserted the slot first: answer with that slot.
        retried = await _slot_of(photo_id, sha256, actor, store)
        assert retried is not None  # the conflicting row exists: photos are never deleted
        return retried
    return PhotoSlot(
        photo_id=photo_id,
        upload=None if stored else _upload(photo_id, await store.presigned_put(sha256, body.size, photo_id)),
    )


def _missing(photo_id: uuid.UUID) -> DomainError:
    return DomainError("photo_not_found", f"no photo {photo_id}", "photo_id", 404)


async def photo_for(photo_id: uuid.UUID, actor: Actor) -> dict:
    """The stored photo, if the actor uploaded it or can see its case; a photo whose bytes were
    never sent by its uploader has nothing to show, whatever its hash names in storage."""
    row = (
        await Photo.select().where((Photo.id == photo_id) & (Photo.district_id == actor.district_id)).first()
    )
    if row is None or not row["stored"]:
        raise _missing(photo_id)
    if row["uploaded_by_id"] != actor.user_id:
        if row["case_id"] is None:
            raise _missing(photo_id)
        try:
            await visible_state(row["case_id"], actor)
        except DomainError:
            # Say nothing of the case behind the photo to someone who may not see it.
            raise _missing(photo_id) from None
    return row


async def _own_slot(photo_id: uuid.UUID, actor: Actor) -> dict:
    """The slot the actor asked for: only its uploader sends its bytes."""
    row = await Photo.select().where((Photo.id == photo_id) & (Photo.uploaded_by_id == actor.user_id)).first()
    if row is None:
        raise _missing(photo_id)
    return row


class _ImageCheck:
    """The store's `check` for an upload: the bytes must be the announced kind of image; the
    thumbnail is made from the same decode (DESIGN §6)."""

    __slots__ = ("content_type", "thumbnail")

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.thumbnail = b""

    def __call__(self, file: IO[bytes]) -> None:
        info, self.thumbnail = check_image(file)
        if info.content_type != self.content_type:
            raise DomainError(
                "photo_type_mismatch",
                f"announced {self.content_type}, got {info.content_type}",
                "content_type",
                415,
            )


async def _mark_stored(row: dict, store: PhotoStore, check: _ImageCheck) -> None:
    await store.put_thumbnail(row["sha256"], check.thumbnail)
    # This slot only: another slot naming the same hash has not shown it holds the bytes.
    await Photo.update({Photo.stored: True}).where(Photo.id == row["id"])


async def receive_content(
    photo_id: uuid.UUID, actor: Actor, stream: AsyncIterable[bytes], store: PhotoStore
) -> None:
    row = await _own_slot(photo_id, actor)
    if row["stored"]:
        return
    check = _ImageCheck(row["content_type"])
    await store.put(row["sha256"], stream, row["size"], row["content_type"], check)
    await _mark_stored(row, store, check)


async def finish_upload(photo_id: uuid.UUID, actor: Actor, store: PhotoStore) -> None:
    row = await _own_slot(photo_id, actor)
    if not row["stored"]:
        check = _ImageCheck(row["content_type"])
        await store.finish_upload(row["sha256"], row["size"], row["content_type"], photo_id, check)
        await _mark_stored(row, store, check)


async def _refuse_beyond(case_id: uuid.UUID, limit: int) -> None:
    rows = await fetch(
        "SELECT count(*) AS n FROM photos "
        "WHERE case_id = {} AND uploaded_by_id IS NULL AND kind = 'evidence'",
        case_id,
    )
    if rows[0]["n"] >= limit:
        raise DomainError("too_many_photos", f"a report takes at most {limit} photos", "photo", 409)


async def receive_for_case(
    case: dict,
    announced: PhotoAnnounced,
    upload: tuple[AsyncIterable[bytes], PhotoStore, int],
    limit: int,
) -> uuid.UUID:
    """A complainant's own photo of their case (the /report page), with no account: checked like
    any upload, placed at the case's point, at most `limit` per case. A full case is refused before
    the bytes are read; the count is taken again under the case's row lock, so racing uploads
    cannot pass it."""
    stream, store, max_bytes = upload
    _check_announced(announced.content_type, announced.size, max_bytes)
    await _refuse_beyond(case["id"], limit)
    check = _ImageCheck(announced.content_type)
    await store.put(announced.sha256.lower(), stream, announced.size, announced.content_type, check)
    photo_id = uuid.uuid4()
    async with transaction():
        # Lock, then count in a statement of its own: its snapshot sees what racing uploads stored.
        await fetch("SELECT 1 FROM cases WHERE id = {} FOR UPDATE", case["id"])
        await _refuse_beyond(case["id"], limit)
        await store.put_thumbnail(announced.sha256.lower(), check.thumbnail)
        await Photo.insert(
            Photo(
                id=photo_id,
                district_id=case["district_id"],
                case_id=case["id"],
                kind="evidence",
                sha256=announced.sha256.lower(),
                size=announced.size,
                content_type=announced.content_type,
                lat=case["lat"] if case["lat"] is not None else 0.0,
                lon=case["lon"] if case["lon"] is not None else 0.0,
                accuracy_m=0.0,
                taken_at=datetime.now(UTC),
                stored=True,
            )
        )
    return photo_id
