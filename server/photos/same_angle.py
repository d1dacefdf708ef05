"""The same-angle rule (同角度, DESIGN §6): an `after` photo must retake its `before` photo.

Pure functions on `PhotoMeta`; the service layer loads the photos and calls `check_resolution`
before a case may be resolved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from server.errors import DomainError
from server.photos.domain import PhotoMeta

__all__ = [
    "DEFAULT_RULES",
    "SameAngleRules",
    "check_pair",
    "check_resolution",
    "distance_m",
    "heading_difference",
    "validate_gps",
]

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


class SameAngleRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A district's same-angle limits (DESIGN §6), stored as overrides in `districts.same_angle`.

    The reported accuracy of both photos widens `max_distance_m`, by at most `max_widening_m`, so
    a claimed accuracy of kilometres cannot stretch "the same spot" across town; a photo whose
    accuracy is worse than `max_accuracy_m` says too little about where it was taken to pair at all.
    Validated on construction so a bad district setting fails when loaded, not at a resolve.
    """

    max_distance_m: float = 30.0
    max_widening_m: float = 20.0
    max_accuracy_m: float = 100.0
    max_heading_deg: float = 30.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value}")
        if self.max_heading_deg > 180:
            raise ValueError(f"max_heading_deg must be at most 180, got {self.max_heading_deg}")


DEFAULT_RULES = SameAngleRules()


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    # Clamp rounding overshoot above 1; `min(a, 1.0)` keeps a NaN a NaN, so it can fail checks.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


def heading_difference(a: float, b: float) -> float:
    """The smaller angle between two compass headings, 0–180° (350° vs 10° is 20°)."""
    diff = abs(a - b) % 360.0
    return min(diff, 360.0 - diff)


def _problems(before: PhotoMeta, after: PhotoMeta, rules: SameAngleRules) -> list[tuple[str, str]]:
    """(code, human text) for each way `after` fails to retake `before`."""
    problems: list[tuple[str, str]] = []
    if before.kind != "before":
        problems.append(
            ("not_a_before_photo", f"photo {before.id} is a {before.kind} photo, not a before photo")
        )
    if after.kind != "after":
        problems.append(
            ("not_an_after_photo", f"photo {after.id} is a {after.kind} photo, not an after photo")
        )
    if after.before_id != before.id:
        problems.append(
            ("names_other_before", f"after photo {after.id} does not name before photo {before.id}")
        )
    if before.case_id is not None and after.case_id is not None and before.case_id != after.case_id:
        problems.append(("different_case", f"photos {before.id} and {after.id} belong to different cases"))

    if before.sha256 == after.sha256:
        problems.append(
            ("same_image", f"after photo {after.id} is the very image of before photo {before.id}")
        )
    for photo in (before, after):
        # Written as `not (x <= limit)` so a NaN anywhere fails the check instead of passing it.
        if not photo.accuracy_m <= rules.max_accuracy_m:
            problems.append(
                (
                    "gps_too_inaccurate",
                    f"photo {photo.id} was located to {photo.accuracy_m:.0f} m, "
                    f"{rules.max_accuracy_m:.0f} m at most can pair",
                )
            )

    distance = distance_m(before.lat, before.lon, after.lat, after.lon)
    allowed = rules.max_distance_m + min(before.accuracy_m + after.accuracy_m, rules.max_widening_m)
    if not distance <= allowed:
        problems.append(
            ("too_far", f"after photo {after.id} was taken {distance:.0f} m away, {allowed:.0f} m allowed")
        )

    if (
        before.heading is None
        or after.heading is None
        or not (math.isfinite(before.heading) and math.isfinite(after.heading))
    ):
        problems.append(("heading_missing", f"photos {before.id} and {after.id} need a compass heading"))
    else:
        turned = heading_difference(before.heading, after.heading)
        if not turned <= rules.max_heading_deg:
            problems.append(
                (
                    "heading_differs",
                    f"after photo {after.id} faces {turned:.0f}° away, {rules.max_heading_deg:.0f}° allowed",
                )
            )

    if not after.taken_at > before.taken_at:
        problems.append(
            ("not_taken_after", f"after photo {after.id} was not taken after before photo {before.id}")
        )
    return problems


def check_pair(before: PhotoMeta, after: PhotoMeta, rules: SameAngleRules = DEFAULT_RULES) -> list[str]:
    """Machine codes of what is wrong with `after` as a retake of `before`; empty means accepted."""
    return [code for code, _ in _problems(before, after, rules)]


def check_resolution(photos: Sequence[PhotoMeta], rules: SameAngleRules = DEFAULT_RULES) -> None:
    """Raise unless `photos` hold a before and an after photo and every after photo retakes its before."""
    befores = {photo.id: photo for photo in photos if photo.kind == "before"}
    afters = [photo for photo in photos if photo.kind == "after"]
    if not befores or not afters:
        missing = " and ".join(kind for kind, found in (("before", befores), ("after", afters)) if not found)
        raise DomainError(
            "resolve_needs_photos",
            f"resolving needs at least one before and one after photo; no {missing} photo given",
            field="photo_ids",
            status=422,
        )
    messages: list[str] = []
    for after in afters:
        before = befores.get(after.before_id) if after.before_id is not None else None
        if before is None:
            messages.append(f"after photo {after.id} does not name one of the before photos given")
        else:
            messages.extend(text for _, text in _problems(before, after, rules))
    if messages:
        raise DomainError("photos_not_same_angle", "; ".join(messages), field="photo_ids", status=422)


def validate_gps(lat: float, lon: float, accuracy: float) -> None:
    """Raise `gps_out_of_range` (422) for coordinates or an accuracy no device can report."""
    for field, value, low, high in (("lat", lat, -90.0, 90.0), ("lon", lon, -180.0, 180.0)):
        if not (math.isfinite(value) and low <= value <= high):
            raise DomainError(
                "gps_out_of_range",
                f"{field} {value} is not within [{low:g}, {high:g}]",
                field=field,
                status=422,
            )
    if not (math.isfinite(accuracy) and accuracy >= 0):
        raise DomainError(
            "gps_out_of_range",
            f"accuracy {accuracy} must be a number of metres ≥ 0",
            field="accuracy_m",
            status=422,
        )
