"""HTTP endpoints of photos: upload slots, streamed uploads, presigned finishes, images, thumbnails."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from server.accounts.domain import Actor
from server.accounts.guards import require_device
from server.errors import DomainError
from server.http import ERROR_RESPONSES
from server.photos.slots import (
    PhotoSlot,
    PhotoSlotRequest,
    finish_upload,
    photo_for,
    receive_content,
    request_slot,
)
from server.photos.storage import PhotoStore
from server.settings import Settings

__all__ = ["PhotoController"]


class PhotoController(Controller):
    path = "/photos"
    tags = ["photos"]

    @post("/slots", operation_id="photoSlot", status_code=201, responses=ERROR_RESPONSES)
    async def slot(
        self,
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
        photo_store: NamedDependency[PhotoStore],
        data: JSONBody[PhotoSlotRequest],
    ) -> PhotoSlot:
        """Announce a photo (kind, hash, size, GPS, heading, time); `upload` is null when the bytes are
        already stored, else where to PUT them."""
        if data.device_id is not None:
            await require_device(data.device_id, actor)
        return await request_slot(data, actor, photo_store, settings.photo_max_bytes)

    @put(
        "/{photo_id:uuid}/content",
        operation_id="photoUpload",
        status_code=204,
        responses=ERROR_RESPONSES,
        request_max_body_size=None,
    )
    async def upload(
        self,
        actor: NamedDependency[Actor],
        photo_id: FromPath[uuid.UUID],
        request: Request,
        photo_store: NamedDependency[PhotoStore],
    ) -> None:
        """The photo's bytes, checked against the announced hash and size and for being a real image."""
        await receive_content(photo_id, actor, request.stream(), photo_store)

    @post("/{photo_id:uuid}/finish", operation_id="photoFinish", status_code=204, responses=ERROR_RESPONSES)
    async def finish(
        self,
        actor: NamedDependency[Actor],
        photo_id: FromPath[uuid.UUID],
        photo_store: NamedDependency[PhotoStore],
    ) -> None:
        """After a presigned upload: the server checks the bytes and marks the photo stored."""
        await finish_upload(photo_id, actor, photo_store)

    @get("/{photo_id:uuid}", operation_id="photoGet", responses=ERROR_RESPONSES, media_type="image/*")
    async def image(
        self,
        actor: NamedDependency[Actor],
        photo_id: FromPath[uuid.UUID],
        photo_store: NamedDependency[PhotoStore],
    ) -> Response[bytes]:
        row = await photo_for(photo_id, actor)
        return Response(await photo_store.get(row["sha256"]), media_type=row["content_type"])

    @get(
        "/{photo_id:uuid}/thumbnail",
        operation_id="photoThumbnail",
        responses=ERROR_RESPONSES,
        media_type="image/jpeg",
    )
    async def thumbnail(
        self,
        actor: NamedDependency[Actor],
        photo_id: FromPath[uuid.UUID],
        photo_store: NamedDependency[PhotoStore],
    ) -> Response[bytes]:
        row = await photo_for(photo_id, actor)
        data = await photo_store.get_thumbnail(row["sha256"])
        if data is None:
            raise DomainError(
                "photo_not_found", "this photo has no thumbnail yet (not uploaded)", "photo_id", 404
            )
        return Response(data, media_type="image/jpeg")
