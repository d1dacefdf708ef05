"""inspect_image / make_thumbnail / check_image against real small images made in memory."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from server.errors import DomainError
from server.photos.images import ImageInfo, check_image, inspect_image, make_thumbnail


def encode(image: Image.Image, fmt: str, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    kwargs = {"exif": exif.tobytes()} if exif is not None else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def two_halves(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: shows which way a thumbnail was turned."""
    image = Image.new("RGB", (width, height), "red")
    image.paste("blue", (width // 2, 0, width, height))
    return image


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (31.0, 13.0, 48.0), 3: "W", 4: (121.0, 28.0, 12.0)})
    exif.get_ifd(0x8769).update({0x9003: "2025:03:04 10:11:12", 0x9011: "+08:00"})
    return exif


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("HEIF", "image/heic")]
)
def test_accepts_jpeg_png_heic(fmt: str, content_type: str) -> None:
    info = inspect_image(encode(two_halves(), fmt))
    assert info == ImageInfo(
        content_type=content_type, width=40, height=20, exif_gps=None, exif_taken_at=None
    )


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF"])
def test_reads_exif_gps_time_and_orientation(fmt: str) -> None:
    info = inspect_image(encode(two_halves(), fmt, camera_exif(orientation=6)))
    assert (info.width, info.height) == (20, 40)  # orientation 6 turns it upright: portrait
    assert info.exif_gps is not None
    lat, lon = info.exif_gps
    assert lat == pytest.approx(31.23)
    assert lon == pytest.approx(-121.47)  # "W" makes it negative
    assert info.exif_taken_at == datetime(2025, 3, 4, 10, 11, 12, tzinfo=timezone(timedelta(hours=8)))


def test_taken_at_without_offset_is_naive_and_broken_gps_is_ignored() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2025:03:04 10:11:12"
    exif.get_ifd(0x8825).update({1: "N", 2: (31.0, 13.0)})  # no longitude, short latitude
    info = inspect_image(encode(two_halves(), "JPEG", exif))
    assert info.exif_taken_at == datetime(2025, 3, 4, 10, 11, 12)
    assert info.exif_gps is None


def _gif() -> bytes:
    return encode(two_halves(), "GIF")


def _webp() -> bytes:
    return encode(two_halves(), "WEBP")


def _truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    data = encode(Image.effect_noise((200, 200), 50), "PNG")
    return data[: len(data) // 2]


def _truncated_heic() -> bytes:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "HEIF")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"just some text, named photo.jpg",
        lambda: b"",
        lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 200,  # a JPEG start marker and nothing real
        lambda: b"<html><body>not a photo</body></html>",
        _gif,
        _webp,
        _truncated_jpeg,
        _truncated_png,
        _truncated_heic,
    ],
    ids=["text", "empty", "fake-jpeg-header", "html", "gif", "webp", "cut-jpeg", "cut-png", "cut-heic"],
)
def test_refuses_what_is_not_a_whole_jpeg_png_or_heic(make: Callable[[], bytes]) -> None:
    data = make()
    for check in (inspect_image, make_thumbnail, check_image):
        with pytest.raises(DomainError) as caught:
            check(data)
        assert (caught.value.code, caught.value.status) == ("photo_not_image", 415)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
# 40x20 = 800 pixels: over a limit of 600 (Pillow only warns) and over twice a limit of 300 (Pillow raises).
@pytest.mark.parametrize("limit", [600, 300])
def test_refuses_too_many_pixels(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    data = encode(two_halves(), "JPEG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 800)
    inspect_image(data)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(DomainError) as caught:
        inspect_image(data)
    assert (caught.value.code, caught.value.status) == ("photo_too_large", 413)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "HEIF"])
def test_thumbnail_is_a_small_jpeg(fmt: str) -> None:
    thumb = Image.open(io.BytesIO(make_thumbnail(encode(two_halves(1000, 500), fmt), max_px=320)))
    assert thumb.format == "JPEG"
    assert thumb.size == (320, 160)


def test_thumbnail_never_enlarges() -> None:
    thumb = Image.open(io.BytesIO(make_thumbnail(encode(two_halves(40, 20), "JPEG"))))
    assert thumb.size == (40, 20)


def _colour(image: Image.Image, xy: tuple[int, int]) -> str:
    red, _, blue = image.convert("RGB").getpixel(xy)
    return "red" if red > blue else "blue"


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF"])
def test_thumbnail_respects_exif_orientation(fmt: str) -> None:
    # Orientation 6: the camera was turned 90° clockwise, so the stored left edge is the top.
    thumb = Image.open(io.BytesIO(make_thumbnail(encode(two_halves(40, 20), fmt, camera_exif(6)), max_px=20)))
    assert thumb.size == (10, 20)
    assert _colour(thumb, (5, 1)) == "red"
    assert _colour(thumb, (5, 18)) == "blue"


def test_thumbnail_of_transparent_png_is_white_not_black() -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 20, 40))
    thumb = Image.open(io.BytesIO(make_thumbnail(encode(image, "PNG")))).convert("RGB")
    assert min(thumb.getpixel((35, 20))) > 240
    assert _colour(thumb, (5, 20)) == "red"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "HEIF"])
def test_one_decode_gives_what_inspecting_and_thumbnailing_give(fmt: str) -> None:
    # 2000 px wide: a JPEG decodes at 1/4 scale for a 320 px thumbnail, yet reports its full size.
    data = encode(two_halves(2000, 1000), fmt, camera_exif(orientation=6) if fmt != "PNG" else None)
    info, thumb = check_image(io.BytesIO(data))
    assert info == inspect_image(data)
    assert (info.width, info.height) == ((1000, 2000) if fmt != "PNG" else (2000, 1000))
    assert Image.open(io.BytesIO(thumb)).size == Image.open(io.BytesIO(make_thumbnail(data))).size


def test_a_large_jpeg_cut_short_is_refused_though_decoded_at_a_small_scale() -> None:
    data = encode(Image.effect_noise((2000, 1600), 50).convert("RGB"), "JPEG")
    with pytest.raises(DomainError) as caught:
        check_image(io.BytesIO(data[: len(data) * 3 // 4]))
    assert caught.value.code == "photo_not_image"
