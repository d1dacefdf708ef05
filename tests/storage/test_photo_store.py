"""One test suite for every PhotoStore backend (local folder, MinIO against a real moto server)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import minio
import pytest

from server.errors import DomainError
from server.photos.storage import LocalPhotoStore, MinioPhotoStore, PhotoStore, photo_store_from

MAX_SIZE = 64 * 1024
PHOTO = os.urandom(50_000)
SHA = hashlib.sha256(PHOTO).hexdigest()
OTHER = os.urandom(1_000)
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()


def _minio_client(endpoint: str) -> minio.Minio:
    return minio.Minio(
        endpoint, access_key="test", secret_key="testtesttest", secure=False, region="us-east-1"
    )


@pytest.fixture(params=["local", "minio"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStore:
    if request.param == "local":
        return LocalPhotoStore(tmp_path / "photos", max_size=MAX_SIZE)
    client = _minio_client(request.getfixturevalue("moto_endpoint"))
    # A fresh bucket per test keeps tests apart and exercises creating a missing bucket.
    return MinioPhotoStore(client, f"photos-{uuid.uuid4().hex[:12]}", max_size=MAX_SIZE)


@pytest.fixture
def minio_store(moto_endpoint: str) -> MinioPhotoStore:
    return MinioPhotoStore(_minio_client(moto_endpoint), f"photos-{uuid.uuid4().hex[:12]}", max_size=MAX_SIZE)


def stored_keys(store: PhotoStore) -> list[str]:
    """Every object or file the store holds, temporary ones included."""
    if isinstance(store, LocalPhotoStore):
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, MinioPhotoStore)
    if not store.client.bucket_exists(store.bucket):
        return []
    return sorted(o.object_name for o in store.client.list_objects(store.bucket, recursive=True))


async def achunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def counting(chunks: list[bytes]) -> tuple[Iterator[bytes], Callable[[], int]]:
    """A sync stream that records how many chunks were taken from it."""
    taken = 0

    def gen() -> Iterator[bytes]:
        nonlocal taken
        for chunk in chunks:
            taken += 1
            yield chunk

    return gen(), lambda: taken


async def test_round_trip(store: PhotoStore) -> None:
    assert not await store.exists(SHA)
    await store.put(SHA, achunks(PHOTO), len(PHOTO), "image/jpeg")
    assert await store.exists(SHA)
    assert await store.get(SHA) == PHOTO
    assert b"".join([c async for c in store.open(SHA, chunk_size=1000)]) == PHOTO
    assert not await store.exists(OTHER_SHA)


async def test_put_accepts_bytes_and_sync_iterables(store: PhotoStore) -> None:
    await store.put(SHA, [PHOTO[:10], PHOTO[10:]], len(PHOTO), "image/jpeg")
    await store.put(OTHER_SHA, OTHER, len(OTHER), "image/png")
    assert await store.get(SHA) == PHOTO
    assert await store.get(OTHER_SHA) == OTHER


async def test_upper_case_hash_names_the_same_photo(store: PhotoStore) -> None:
    await store.put(SHA.upper(), PHOTO, len(PHOTO), "image/jpeg")
    assert await store.exists(SHA)


async def test_hash_mismatch_leaves_nothing(store: PhotoStore) -> None:
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, achunks(OTHER), len(OTHER), "image/jpeg")
    assert (caught.value.code, caught.value.status) == ("photo_hash_mismatch", 400)
    assert not await store.exists(SHA)
    assert stored_keys(store) == []


async def test_short_stream_is_a_size_mismatch(store: PhotoStore) -> None:
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, achunks(PHOTO[:-1]), len(PHOTO), "image/jpeg")
    assert (caught.value.code, caught.value.status) == ("photo_size_mismatch", 400)
    assert stored_keys(store) == []


async def test_long_stream_is_a_size_mismatch_and_is_not_read_to_the_end(store: PhotoStore) -> None:
    stream, taken = counting([PHOTO[:1000]] * 100)
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, stream, 2500, "image/jpeg")
    assert caught.value.code == "photo_size_mismatch"
    assert taken() == 3
    assert stored_keys(store) == []


async def test_too_large_is_refused_before_reading(store: PhotoStore) -> None:
    stream, taken = counting([b"x" * 1000])
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, stream, MAX_SIZE + 1, "image/jpeg")
    assert (caught.value.code, caught.value.status) == ("photo_too_large", 413)
    assert taken() == 0
    assert stored_keys(store) == []


async def test_size_must_be_positive(store: PhotoStore) -> None:
    empty_sha = hashlib.sha256(b"").hexdigest()
    with pytest.raises(DomainError) as caught:
        await store.put(empty_sha, b"", 0, "image/jpeg")
    assert caught.value.code == "photo_size_mismatch"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ab" * 31, "g" * 64, ""])
async def test_malformed_hash_is_refused(store: PhotoStore, bad: str) -> None:
    with pytest.raises(DomainError) as caught:
        await store.put(bad, PHOTO, len(PHOTO), "image/jpeg")
    assert (caught.value.code, caught.value.status) == ("photo_bad_hash", 400)
    with pytest.raises(DomainError):
        await store.exists(bad)


async def test_re_put_of_same_hash_is_idempotent_and_still_checked(store: PhotoStore) -> None:
    await store.put(SHA, PHOTO, len(PHOTO), "image/jpeg")
    keys = stored_keys(store)
    await store.put(SHA, achunks(PHOTO), len(PHOTO), "image/jpeg")
    assert stored_keys(store) == keys
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, OTHER, len(OTHER), "image/jpeg")
    assert caught.value.code == "photo_hash_mismatch"
    assert await store.get(SHA) == PHOTO
    assert stored_keys(store) == keys


class Refuse:
    """A `check` that records the bytes it was shown and refuses them."""

    def __init__(self) -> None:
        self.seen = b""

    def __call__(self, file: IO[bytes]) -> None:
        self.seen = file.read()
        raise DomainError("photo_not_image", "not an image", status=415)


async def test_a_refusing_check_sees_the_whole_upload_and_leaves_nothing(store: PhotoStore) -> None:
    check = Refuse()
    with pytest.raises(DomainError) as caught:
        await store.put(SHA, achunks(PHOTO, 70_000), len(PHOTO), "image/jpeg", check)
    assert caught.value.code == "photo_not_image"
    assert check.seen == PHOTO
    assert not await store.exists(SHA)
    assert stored_keys(store) == []


async def test_a_large_upload_is_written_whole_in_batches(tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    store = LocalPhotoStore(tmp_path, max_size=len(big))
    seen: list[bytes] = []
    await store.put(
        hashlib.sha256(big).hexdigest(),
        achunks(big, 65_536),
        len(big),
        "image/jpeg",
        lambda f: seen.append(f.read()),
    )
    assert seen == [big]
    assert await store.get(hashlib.sha256(big).hexdigest()) == big


async def test_get_of_missing_photo(store: PhotoStore) -> None:
    with pytest.raises(DomainError) as caught:
        await store.get(SHA)
    assert (caught.value.code, caught.value.status) == ("photo_not_found", 404)


async def test_thumbnails(store: PhotoStore) -> None:
    await store.put(SHA, PHOTO, len(PHOTO), "image/jpeg")
    assert await store.get_thumbnail(SHA) is None
    await store.put_thumbnail(SHA, b"thumb-1")
    await store.put_thumbnail(SHA, b"thumb-2")
    assert await store.get_thumbnail(SHA) == b"thumb-2"
    assert await store.get(SHA) == PHOTO
    assert await store.get_thumbnail(OTHER_SHA) is None


async def test_delete_removes_photo_and_thumbnail(store: PhotoStore) -> None:
    await store.put(SHA, PHOTO, len(PHOTO), "image/jpeg")
    await store.put_thumbnail(SHA, b"thumb")
    await store.put(OTHER_SHA, OTHER, len(OTHER), "image/png")
    await store.delete(SHA)
    assert not await store.exists(SHA)
    assert await store.get_thumbnail(SHA) is None
    assert await store.get(OTHER_SHA) == OTHER
    await store.delete(SHA)  # absent: no error


async def test_finish_without_a_staged_upload_is_refused_even_if_the_hash_is_stored(
    store: PhotoStore,
) -> None:
    # A stored hash proves nothing about the caller having the bytes (DESIGN §6).
    await store.put(SHA, PHOTO, len(PHOTO), "image/jpeg")
    for sha, size in ((SHA, len(PHOTO)), (OTHER_SHA, len(OTHER))):
        with pytest.raises(DomainError) as caught:
            await store.finish_upload(sha, size, "image/jpeg", uuid.uuid4())
        assert (caught.value.code, caught.value.status) == ("photo_not_uploaded", 409)
    assert await store.get(SHA) == PHOTO


async def test_presigned_put_refuses_too_large(store: PhotoStore) -> None:
    with pytest.raises(DomainError) as caught:
        await store.presigned_put(SHA, MAX_SIZE + 1, uuid.uuid4())
    assert caught.value.code == "photo_too_large"


async def test_local_store_has_no_presigned_url(tmp_path: Path) -> None:
    assert await LocalPhotoStore(tmp_path).presigned_put(SHA, len(PHOTO), uuid.uuid4()) is None


# Presigned uploads exist on MinIO only. moto ignores signatures and expiry: no expiry test here.


async def test_presigned_put_then_finish(minio_store: MinioPhotoStore) -> None:
    upload = uuid.uuid4()
    url = await minio_store.presigned_put(SHA, len(PHOTO), upload)
    assert url is not None and minio_store.bucket in url
    async with httpx.AsyncClient() as http:
        response = await http.put(url, content=PHOTO)
    assert response.status_code == 200
    assert not await minio_store.exists(SHA)  # not visible until checked
    await minio_store.finish_upload(SHA, len(PHOTO), "image/jpeg", upload)
    assert await minio_store.exists(SHA)
    assert await minio_store.get(SHA) == PHOTO
    assert (
        minio_store.client.stat_object(minio_store.bucket, stored_keys(minio_store)[0]).content_type
        == "image/jpeg"
    )
    assert len(stored_keys(minio_store)) == 1  # staging object gone


async def test_a_finish_takes_only_the_bytes_its_own_upload_staged(minio_store: MinioPhotoStore) -> None:
    theirs, mine = uuid.uuid4(), uuid.uuid4()
    url = await minio_store.presigned_put(SHA, len(PHOTO), theirs)
    await minio_store.presigned_put(SHA, len(PHOTO), mine)
    async with httpx.AsyncClient() as http:
        assert (await http.put(url, content=PHOTO)).status_code == 200
    with pytest.raises(DomainError) as caught:
        await minio_store.finish_upload(SHA, len(PHOTO), "image/jpeg", mine)
    assert caught.value.code == "photo_not_uploaded"
    assert not await minio_store.exists(SHA)
    await minio_store.finish_upload(SHA, len(PHOTO), "image/jpeg", theirs)
    assert await minio_store.get(SHA) == PHOTO


@pytest.mark.parametrize(
    ("uploaded", "announced_size", "code"),
    [(OTHER, len(OTHER), "photo_hash_mismatch"), (PHOTO[:-1], len(PHOTO), "photo_size_mismatch")],
)
async def test_presigned_put_of_wrong_bytes_leaves_nothing(
    minio_store: MinioPhotoStore, uploaded: bytes, announced_size: int, code: str
) -> None:
    upload = uuid.uuid4()
    url = await minio_store.presigned_put(SHA, announced_size, upload)
    assert url is not None
    async with httpx.AsyncClient() as http:
        assert (await http.put(url, content=uploaded)).status_code == 200
    with pytest.raises(DomainError) as caught:
        await minio_store.finish_upload(SHA, announced_size, "image/jpeg", upload)
    assert caught.value.code == code
    assert not await minio_store.exists(SHA)
    assert stored_keys(minio_store) == []


async def test_presigned_bytes_a_check_refuses_leave_nothing(minio_store: MinioPhotoStore) -> None:
    upload = uuid.uuid4()
    url = await minio_store.presigned_put(SHA, len(PHOTO), upload)
    assert url is not None
    async with httpx.AsyncClient() as http:
        assert (await http.put(url, content=PHOTO)).status_code == 200
    check = Refuse()
    with pytest.raises(DomainError) as caught:
        await minio_store.finish_upload(SHA, len(PHOTO), "image/jpeg", upload, check)
    assert caught.value.code == "photo_not_image" and check.seen == PHOTO
    assert stored_keys(minio_store) == []


async def test_factory_builds_each_backend(tmp_path: Path, moto_endpoint: str) -> None:
    local = photo_store_from(kind="local", root=tmp_path)
    assert isinstance(local, LocalPhotoStore)
    remote = photo_store_from(
        kind="minio",
        endpoint=moto_endpoint,
        access_key="a",
        secret_key="secretsecret",
        bucket="factory",
        secure=False,
    )
    assert isinstance(remote, MinioPhotoStore)
    await remote.put(SHA, PHOTO, len(PHOTO), "image/jpeg")
    assert await remote.get(SHA) == PHOTO
    with pytest.raises(ValueError):
        photo_store_from(kind="s3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        photo_store_from(kind="minio")
