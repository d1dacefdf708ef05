"""Photo object storage keyed by content hash (DESIGN §6).

One interface, `PhotoStore`, with two backends run against one shared test suite
(tests/storage/test_photo_store.py): `LocalPhotoStore` (a folder, the default) and
`MinioPhotoStore` (MinIO / any S3 in production).

An object lives under `ab/cd/abcd…` where `abcd…` is the SHA-256 of its bytes, so an object
under a key is always exactly the bytes that hash to it: uploads are checked against the
announced hash and size, and by the caller's `check` (is it an image?), *before* they become
visible, and a failed upload leaves nothing behind. Received bytes wait in a temporary file, never
whole in memory, so memory stays flat however large and many the uploads.

Two upload paths:
- through the server: `put(sha256, stream, size, content_type)`;
- straight to MinIO: `presigned_put(...)` gives the device a URL to a staging key of its own
  upload, then `finish_upload(...)` checks the staged bytes and moves them under the hash key.
  The local store has no presigned URLs (`None`: the device uploads to the server).

A finish only succeeds for bytes staged under that very upload: that the hash is stored already,
or staged by someone else's upload, proves nothing about the caller having the bytes (DESIGN §6).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import io
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import IO, BinaryIO, Literal, cast

import minio
from minio.commonconfig import REPLACE, CopySource
from minio.error import S3Error

from server.errors import DomainError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ByteStream",
    "LocalPhotoStore",
    "MinioPhotoStore",
    "PhotoStore",
    "photo_store_from",
]

DEFAULT_MAX_SIZE = 20 * 1024 * 1024  # phone photos are 2–8 MB; HEIC less
_CHUNK = 256 * 1024
# Received chunks are hashed and written in a worker thread a batch at a time: one thread hop per
# chunk (uvicorn hands over 64 KiB or less) cost more than the write itself.
_WRITE_BATCH = 1024 * 1024
# Uploads through the server are buffered in memory up to this size, then on disk.
_SPOOL_IN_MEMORY = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")

ByteStream = AsyncIterable[bytes] | Iterable[bytes] | bytes
# Called in a worker thread with the received bytes (a file at offset 0) before they become
# visible; raising refuses them.
Check = Callable[[IO[bytes]], None]


def _check_hash(sha256: str) -> str:
    # The hash becomes a file path / object key: only 64 hex digits may pass.
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if not _SHA256.fullmatch(digest):
        raise DomainError(
            "photo_bad_hash", "sha256 must be 64 hexadecimal digits", field="sha256", status=400
        )
    return digest


def _check_size(size: int, max_size: int) -> None:
    if size <= 0:
        raise DomainError(
            "photo_size_mismatch", "size must be a positive number of bytes", field="size", status=400
        )
    if size > max_size:
        raise DomainError(
            "photo_too_large", f"photo is {size} bytes, at most {max_size} allowed", field="size", status=413
        )


def _size_mismatch(announced: int, got: str) -> DomainError:
    return DomainError(
        "photo_size_mismatch", f"announced {announced} bytes, received {got}", field="size", status=400
    )


def _hash_mismatch(announced: str, got: str) -> DomainError:
    return DomainError(
        "photo_hash_mismatch",
        f"announced sha256 {announced}, received bytes hash to {got}",
        field="sha256",
        status=400,
    )


def _not_uploaded(sha256: str) -> DomainError:
    return DomainError("photo_not_uploaded", f"photo {sha256} was not uploaded", field="sha256", status=409)


def _not_found(sha256: str) -> DomainError:
    return DomainError("photo_not_found", f"no stored photo {sha256}", field="sha256", status=404)


async def _chunks(stream: ByteStream) -> AsyncIterator[bytes]:
    if isinstance(stream, (bytes, bytearray, memoryview)):
        yield bytes(stream)
    elif isinstance(stream, AsyncIterable):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:
            yield chunk


def _absorb(chunks: list[bytes], hasher: hashlib._Hash, sink: IO[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
        sink.write(chunk)


async def _receive(stream: ByteStream, sha256: str, size: int, sink: IO[bytes]) -> None:
    """Copy `stream` into `sink` while hashing; raise unless it is exactly `size` bytes hashing to `sha256`.

    Reading stops as soon as the stream passes `size`, so an oversized body is never read whole.
    """
    hasher = hashlib.sha256()
    received = 0
    batch: list[bytes] = []
    batched = 0
    async for chunk in _chunks(stream):
        received += len(chunk)
        if received > size:
            raise _size_mismatch(size, f"more than {size}")
        batch.append(chunk)
        batched += len(chunk)
        if batched >= _WRITE_BATCH:
            await asyncio.to_thread(_absorb, batch, hasher, sink)
            batch, batched = [], 0
    await asyncio.to_thread(_absorb, batch, hasher, sink)
    if received != size:
        raise _size_mismatch(size, str(received))
    if hasher.hexdigest() != sha256:
        raise _hash_mismatch(sha256, hasher.hexdigest())


def _key(sha256: str) -> str:
    # Two levels of fan-out keep folders (and S3 listings) small.
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class PhotoStore(abc.ABC):
    """Content-addressed photo storage. Every method takes the photo's SHA-256 (hex) as its key."""

    max_size: int

    @abc.abstractmethod
    async def put(
        self, sha256: str, stream: ByteStream, size: int, content_type: str, check: Check | None = None
    ) -> None:
        """Store the bytes of `stream`; raise `photo_hash_mismatch`, `photo_size_mismatch` (400) or
        `photo_too_large` (413), or what `check` raises, and store nothing unless they are `size`
        bytes hashing to `sha256` that pass `check`. Putting an already stored hash again is
        accepted (still checked) and changes nothing."""

    @abc.abstractmethod
    async def exists(self, sha256: str) -> bool:
        """Whether a checked photo is stored under this hash (a staged, unfinished upload is not)."""

    @abc.abstractmethod
    def open(self, sha256: str, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        """Stream the stored bytes; raises `photo_not_found` (404) on first iteration if absent."""

    async def get(self, sha256: str) -> bytes:
        """The stored bytes; raises `photo_not_found` (404)."""
        return b"".join([chunk async for chunk in self.open(sha256)])

    @abc.abstractmethod
    async def delete(self, sha256: str) -> None:
        """Remove the photo and its thumbnail; deleting an absent photo is not an error."""

    @abc.abstractmethod
    async def presigned_put(
        self, sha256: str, size: int, upload_id: uuid.UUID, expires: timedelta = timedelta(minutes=15)
    ) -> str | None:
        """A URL the device can PUT the bytes of upload `upload_id` to, or None when it must upload
        through the server. After the device's PUT, call `finish_upload`: until then the photo does
        not `exist`."""

    @abc.abstractmethod
    async def finish_upload(
        self, sha256: str, size: int, content_type: str, upload_id: uuid.UUID, check: Check | None = None
    ) -> None:
        """Check the bytes staged by upload `upload_id` (like `put`, `check` included) and make them
        visible under their hash; a wrong upload is deleted and raises like `put`. Raises
        `photo_not_uploaded` (409) when this upload staged nothing, even if the hash is stored: a
        finish proves the caller sent the bytes."""

    @abc.abstractmethod
    async def put_thumbnail(self, sha256: str, data: bytes) -> None:
        """Store the (JPEG) thumbnail of the photo `sha256`, replacing any earlier one."""

    @abc.abstractmethod
    async def get_thumbnail(self, sha256: str) -> bytes | None:
        """The thumbnail, or None when none was made yet (the caller makes one on demand)."""


class LocalPhotoStore(PhotoStore):
    """Photos as files under `root`; writes go to `root/.tmp` and are renamed into place when checked."""

    def __init__(self, root: Path, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.root = Path(root)
        self.max_size = max_size
        # Same file system as the final paths, so os.replace is an atomic rename.
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        return self.root / _key(_check_hash(sha256))

    def _thumb_path(self, sha256: str) -> Path:
        return self.root / "thumbs" / f"{_key(_check_hash(sha256))}.jpg"

    async def put(
        self, sha256: str, stream: ByteStream, size: int, content_type: str, check: Check | None = None
    ) -> None:
        digest = _check_hash(sha256)
        _check_size(size, self.max_size)
        tmp = tempfile.NamedTemporaryFile(dir=self._tmp, delete=False)  # noqa: SIM115 - closed below
        try:
            await _receive(stream, digest, size, tmp)
            await asyncio.to_thread(_check_and_close, tmp, check)
            await asyncio.to_thread(_move_into_place, Path(tmp.name), self.root / _key(digest))
        finally:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self._path(sha256).is_file)

    async def open(self, sha256: str, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        path = self._path(sha256)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise _not_found(path.name) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def delete(self, sha256: str) -> None:
        path, thumb = self._path(sha256), self._thumb_path(sha256)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await asyncio.to_thread(thumb.unlink, missing_ok=True)

    async def presigned_put(
        self, sha256: str, size: int, upload_id: uuid.UUID, expires: timedelta = timedelta(minutes=15)
    ) -> str | None:
        _check_hash(sha256)
        _check_size(size, self.max_size)
        return None

    async def finish_upload(
        self, sha256: str, size: int, content_type: str, upload_id: uuid.UUID, check: Check | None = None
    ) -> None:
        # Nothing is ever staged here: bytes arrive through `put` only.
        raise _not_uploaded(_check_hash(sha256))

    async def put_thumbnail(self, sha256: str, data: bytes) -> None:
        thumb = self._thumb_path(sha256)
        await asyncio.to_thread(_write_atomically, self._tmp, thumb, data)

    async def get_thumbnail(self, sha256: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._thumb_path(sha256).read_bytes)
        except FileNotFoundError:
            return None


def _check_and_close(file: IO[bytes], check: Check | None) -> None:
    file.flush()
    if check is not None:
        file.seek(0)
        check(file)
    os.fsync(file.fileno())  # the rename must not publish a file whose bytes are still in flight
    file.close()


def _move_into_place(tmp: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)


def _write_atomically(tmp_dir: Path, path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as tmp:
        tmp.write(data)
    try:
        _move_into_place(Path(tmp.name), path)
    finally:
        Path(tmp.name).unlink(missing_ok=True)


class MinioPhotoStore(PhotoStore):
    """Photos as objects in a MinIO/S3 bucket (created on first use if missing).

    The minio SDK blocks, so every call runs in a worker thread.
    """

    def __init__(self, client: minio.Minio, bucket: str, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.client = client
        self.bucket = bucket
        self.max_size = max_size
        self._bucket_ready = False

    async def _ready(self) -> minio.Minio:
        if not self._bucket_ready:
            await asyncio.to_thread(self._make_bucket)
            self._bucket_ready = True
        return self.client

    def _make_bucket(self) -> None:
        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as error:
            # Another worker made it between our check and our create.
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def _stat(self, key: str) -> int | None:
        """The object's size, or None when absent."""
        client = await self._ready()
        try:
            stat = await asyncio.to_thread(client.stat_object, self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise
        return stat.size

    async def put(
        self, sha256: str, stream: ByteStream, size: int, content_type: str, check: Check | None = None
    ) -> None:
        digest = _check_hash(sha256)
        _check_size(size, self.max_size)
        client = await self._ready()
        # Checked in a local spool first, then uploaded with its known length: a wrong upload never
        # reaches the bucket, and a crash mid-upload leaves no stray staging object behind.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            await _receive(stream, digest, size, spool)
            await _run_check(spool, check)
            if await self._stat(_key(digest)) is not None:
                return
            spool.seek(0)
            await asyncio.to_thread(
                client.put_object,
                self.bucket,
                _key(digest),
                cast(BinaryIO, spool),  # a binary file; typeshed does not say it is a BinaryIO
                size,
                content_type=content_type,
            )

    async def exists(self, sha256: str) -> bool:
        return await self._stat(_key(_check_hash(sha256))) is not None

    async def open(self, sha256: str, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        digest = _check_hash(sha256)
        async for chunk in self._open_key(_key(digest), digest, chunk_size):
            yield chunk

    async def _open_key(self, key: str, sha256: str, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        client = await self._ready()
        try:
            response = await asyncio.to_thread(client.get_object, self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                raise _not_found(sha256) from None
            raise
        try:
            chunks = response.stream(chunk_size)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def delete(self, sha256: str) -> None:
        digest = _check_hash(sha256)
        client = await self._ready()
        for key in (_key(digest), _thumb_key(digest)):
            # S3 deletes of absent keys succeed, which keeps delete idempotent.
            await asyncio.to_thread(client.remove_object, self.bucket, key)

    async def presigned_put(
        self, sha256: str, size: int, upload_id: uuid.UUID, expires: timedelta = timedelta(minutes=15)
    ) -> str | None:
        _check_hash(sha256)
        _check_size(size, self.max_size)
        client = await self._ready()
        # The device writes to a staging key of its own upload: a presigned PUT cannot make S3 check
        # our hash, so its bytes only move under the hash key once `finish_upload` has checked them.
        return await asyncio.to_thread(
            client.presigned_put_object, self.bucket, _staging_key(upload_id), expires
        )

    async def finish_upload(
        self, sha256: str, size: int, content_type: str, upload_id: uuid.UUID, check: Check | None = None
    ) -> None:
        digest = _check_hash(sha256)
        _check_size(size, self.max_size)
        client = await self._ready()
        staging = _staging_key(upload_id)
        staged_size = await self._stat(staging)
        if staged_size is None:
            raise _not_uploaded(digest)
        try:
            _check_size(staged_size, self.max_size)
            if staged_size != size:
                raise _size_mismatch(size, str(staged_size))
            # Read back once, into a spool: hashed on the way and checked from there.
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
                await _receive(self._open_key(staging, digest), digest, size, spool)
                await _run_check(spool, check)
            if await self._stat(_key(digest)) is None:
                # Server-side copy; REPLACE sets the content type the device may not have sent.
                await asyncio.to_thread(
                    client.copy_object,
                    self.bucket,
                    _key(digest),
                    CopySource(self.bucket, staging),
                    metadata={"Content-Type": content_type},
                    metadata_directive=REPLACE,
                )
        finally:
            await asyncio.to_thread(client.remove_object, self.bucket, staging)

    async def put_thumbnail(self, sha256: str, data: bytes) -> None:
        client = await self._ready()
        key = _thumb_key(_check_hash(sha256))
        await asyncio.to_thread(_put_bytes, client, self.bucket, key, data)

    async def get_thumbnail(self, sha256: str) -> bytes | None:
        digest = _check_hash(sha256)
        try:
            return b"".join([chunk async for chunk in self._open_key(_thumb_key(digest), digest)])
        except DomainError:
            return None


async def _run_check(file: IO[bytes], check: Check | None) -> None:
    if check is not None:
        file.seek(0)
        await asyncio.to_thread(check, file)


def _thumb_key(sha256: str) -> str:
    return f"thumbs/{_key(sha256)}.jpg"


def _staging_key(upload_id: uuid.UUID) -> str:
    return f"incoming/{upload_id}"


def _put_bytes(client: minio.Minio, bucket: str, key: str, data: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="image/jpeg")


def photo_store_from(
    *,
    kind: Literal["local", "minio"] = "local",
    root: Path | str | None = None,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    bucket: str = "gridcase-photos",
    secure: bool = True,
    region: str | None = "us-east-1",
    max_size: int = DEFAULT_MAX_SIZE,
) -> PhotoStore:
    """Build the configured store from plain settings (`endpoint` is `host:port`, no scheme)."""
    if kind == "local":
        if root is None:
            raise ValueError("photo store 'local' needs root")
        return LocalPhotoStore(Path(root), max_size=max_size)
    if kind == "minio":
        if not endpoint:
            raise ValueError("photo store 'minio' needs endpoint")
        # A known region spares the SDK a bucket-location request before presigning.
        client = minio.Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        return MinioPhotoStore(client, bucket, max_size=max_size)
    raise ValueError(f"unknown photo store kind {kind!r}: expected 'local' or 'minio'")
