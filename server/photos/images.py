"""Image checks and thumbnails for uploaded photos (DESIGN §6): only real JPEG, PNG or HEIC."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta, timezone
from typing import IO

import msgspec
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from server.errors import DomainError

__all__ = ["CONTENT_TYPES", "ImageInfo", "check_image", "inspect_image", "make_thumbnail"]

pillow_heif.register_heif_opener()

# Pillow format name → the content type we store and serve.
CONTENT_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic"}

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90°


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an uploaded photo is. `width`/`height` are as displayed (EXIF orientation applied)."""

    content_type: str
    width: int
    height: int
    exif_gps: tuple[float, float] | None = None  # (lat, lon)
    exif_taken_at: datetime | None = None  # aware when the camera wrote an offset


def _not_image(reason: str) -> DomainError:
    return DomainError(
        "photo_not_image", f"the upload is not a JPEG, PNG or HEIC image: {reason}", field="photo", status=415
    )


Source = bytes | IO[bytes]


def _open(source: Source, draft_px: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Open and fully decode `source`, so a truncated or corrupt file is caught here, not later;
    returns the image and its stored size.

    With `draft_px` a JPEG decodes at the smallest DCT scale still covering that many pixels a
    side: every byte is still decoded (a cut file still fails), in up to 1/64 of the memory."""
    try:
        image = Image.open(
            io.BytesIO(source) if isinstance(source, bytes) else source, formats=list(CONTENT_TYPES)
        )
        size = image.size
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a photo has no business being so big.
        if Image.MAX_IMAGE_PIXELS and image.width * image.height > Image.MAX_IMAGE_PIXELS:
            raise Image.DecompressionBombError(f"{image.width}x{image.height} pixels")
        if draft_px is not None:
            image.draft(None, (draft_px, draft_px))
        image.load()
    except Image.DecompressionBombError as error:
        raise DomainError(
            "photo_too_large", f"image has too many pixels: {error}", field="photo", status=413
        ) from None
    except UnidentifiedImageError:
        raise _not_image("unknown format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow reports truncated and corrupt files with any of these.
        raise _not_image(str(error) or type(error).__name__) from None
    return image, size


def _info(image: Image.Image, size: tuple[int, int]) -> ImageInfo:
    exif = image.getexif()
    width, height = size
    if exif.get(_ORIENTATION) in _SWAPS_SIDES:
        width, height = height, width
    return ImageInfo(
        content_type=CONTENT_TYPES[image.format or ""],
        width=width,
        height=height,
        exif_gps=_gps(exif),
        exif_taken_at=_taken_at(exif),
    )


def _thumbnail(image: Image.Image, max_px: int) -> bytes:
    image = ImageOps.exif_transpose(image)
    image.thumbnail((max_px, max_px))
    if image.mode in ("RGBA", "LA", "P", "PA"):
        # JPEG has no alpha: flatten transparent parts onto white rather than black.
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def inspect_image(source: Source) -> ImageInfo:
    """Check that `source` is a whole JPEG, PNG or HEIC image; raise `photo_not_image` (415) if not."""
    return _info(*_open(source))


def make_thumbnail(source: Source, max_px: int = 320) -> bytes:
    """A JPEG whose longer side is at most `max_px`, upright per EXIF orientation."""
    if max_px < 1:
        raise ValueError("max_px must be positive")
    image, _ = _open(source, max_px)
    return _thumbnail(image, max_px)


def check_image(source: Source, max_px: int = 320) -> tuple[ImageInfo, bytes]:
    """`inspect_image` and `make_thumbnail` from one decode, as an upload needs both."""
    if max_px < 1:
        raise ValueError("max_px must be positive")
    image, size = _open(source, max_px)
    return _info(image, size), _thumbnail(image, max_px)


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    # Camera EXIF is often partial or malformed: anything odd means "no GPS", never an error.
    try:
        gps = exif.get_ifd(_GPS_IFD)
        lat = _degrees(gps[_GPS_LAT], gps.get(_GPS_LAT_REF, "N"), "S")
        lon = _degrees(gps[_GPS_LON], gps.get(_GPS_LON_REF, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _degrees(dms: tuple[float, float, float], ref: str | bytes, negative: str) -> float:
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(value):
        raise ValueError("not a finite coordinate")
    ref = ref.decode() if isinstance(ref, bytes) else ref
    return -value if ref.strip().upper() == negative else value


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        fields = exif.get_ifd(_EXIF_IFD)
        taken = datetime.strptime(str(fields[_DATETIME_ORIGINAL]).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except (KeyError, ValueError):
        return None
    offset = fields.get(_OFFSET_TIME_ORIGINAL)
    if not isinstance(offset, str):
        return taken
    try:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = offset[1:].split(":")
        return taken.replace(tzinfo=timezone(sign * timedelta(hours=int(hours), minutes=int(minutes))))
    except (IndexError, ValueError):
        return taken
