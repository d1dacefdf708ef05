"""The same-angle rule (同角度): boundaries of distance, heading, time, and the resolution check."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from server.errors import DomainError
from server.photos.domain import PhotoMeta
from server.photos.same_angle import (
    SameAngleRules,
    check_pair,
    check_resolution,
    distance_m,
    heading_difference,
    validate_gps,
)

RULES = SameAngleRules()
CASE = uuid.uuid4()
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
LAT, LON = 31.2304, 121.4737
METRES_PER_DEGREE_LAT = 6_371_008.8 * math.pi / 180


def before(**changes: object) -> PhotoMeta:
    photo = PhotoMeta(
        id=uuid.uuid4(),
        case_id=CASE,
        kind="before",
        lat=LAT,
        lon=LON,
        accuracy_m=0.0,
        heading=90.0,
        taken_at=T0,
        sha256="a" * 64,
        size=1000,
        content_type="image/jpeg",
    )
    return msgspec.structs.replace(photo, **changes)


def after(of: PhotoMeta, north_m: float = 0.0, **changes: object) -> PhotoMeta:
    """A retake of `of`, `north_m` metres further north, an hour later, same heading."""
    photo = PhotoMeta(
        id=uuid.uuid4(),
        case_id=of.case_id,
        kind="after",
        lat=of.lat + north_m / METRES_PER_DEGREE_LAT,
        lon=of.lon,
        accuracy_m=0.0,
        heading=of.heading,
        taken_at=of.taken_at + timedelta(hours=1),
        sha256="b" * 64,
        size=1000,
        content_type="image/jpeg",
        before_id=of.id,
    )
    return msgspec.structs.replace(photo, **changes)


def test_a_good_retake_is_accepted() -> None:
    b = before()
    assert check_pair(b, after(b), RULES) == []
    check_resolution([b, after(b)], RULES)


def test_distance_helper_agrees_with_a_known_distance() -> None:
    # One degree of latitude is about 111.2 km.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)
    assert distance_m(LAT, LON, LAT, LON) == 0
    assert distance_m(0, 0, 0, 180) == pytest.approx(math.pi * 6_371_008.8)
    assert math.isnan(distance_m(math.nan, 0, 0, 0))


@pytest.mark.parametrize(("north_m", "ok"), [(29.0, True), (31.0, False)])
def test_distance_limit_with_exact_gps(north_m: float, ok: bool) -> None:
    b = before()
    assert check_pair(b, after(b, north_m), RULES) == ([] if ok else ["too_far"])


def test_reported_accuracy_widens_the_distance_limit() -> None:
    b = before(accuracy_m=5.0)
    assert check_pair(b, after(b, 44.0, accuracy_m=10.0), RULES) == []  # 30 + 5 + 10 = 45
    assert check_pair(b, after(b, 46.0, accuracy_m=10.0), RULES) == ["too_far"]


@pytest.mark.parametrize(("north_m", "ok"), [(49.0, True), (51.0, False)])
def test_accuracy_widens_the_limit_by_at_most_20_m(north_m: float, ok: bool) -> None:
    b = before(accuracy_m=40.0)
    assert check_pair(b, after(b, north_m, accuracy_m=40.0), RULES) == ([] if ok else ["too_far"])


def test_a_claimed_accuracy_of_thousands_of_km_lets_nothing_far_away_pass() -> None:
    b = before()
    far = after(b, 55_000.0, accuracy_m=1e7)
    assert check_pair(b, far, RULES) == ["gps_too_inaccurate", "too_far"]


@pytest.mark.parametrize(("accuracy", "ok"), [(100.0, True), (100.5, False), (math.inf, False)])
@pytest.mark.parametrize("which", ["before", "after"])
def test_a_photo_located_worse_than_100_m_cannot_pair(which: str, accuracy: float, ok: bool) -> None:
    b = before(accuracy_m=accuracy) if which == "before" else before()
    a = after(b, accuracy_m=accuracy) if which == "after" else after(b)
    assert check_pair(b, a, RULES) == ([] if ok else ["gps_too_inaccurate"])


def test_an_after_photo_with_the_bytes_of_its_before_is_no_retake() -> None:
    b = before()
    copy = after(b, sha256=b.sha256)
    assert check_pair(b, copy, RULES) == ["same_image"]
    with pytest.raises(DomainError) as caught:
        check_resolution([b, copy], RULES)
    assert caught.value.code == "photos_not_same_angle" and "very image" in caught.value.message


def test_every_limit_is_configurable() -> None:
    b = before(accuracy_m=150.0)
    loose = SameAngleRules(max_distance_m=100.0, max_widening_m=0.0, max_accuracy_m=200.0, max_heading_deg=90)
    assert check_pair(b, after(b, 99.0, heading=170.0), loose) == []
    assert check_pair(b, after(b, 101.0), loose) == ["too_far"]


@pytest.mark.parametrize(
    "bad",
    [
        {"max_distance_m": -1.0},
        {"max_widening_m": math.nan},
        {"max_accuracy_m": math.inf},
        {"max_heading_deg": 181.0},
    ],
)
def test_impossible_limits_are_refused_when_loaded(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SameAngleRules(**bad)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(bad, SameAngleRules)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"max_distance": 50.0}, SameAngleRules)  # a typo is not silently ignored


def test_distance_limit_is_configurable() -> None:
    b = before()
    assert check_pair(b, after(b, 31.0), SameAngleRules(max_distance_m=50.0)) == []


@pytest.mark.parametrize(
    ("before_heading", "after_heading", "ok"),
    [
        (90.0, 119.0, True),
        (90.0, 121.0, False),
        (90.0, 61.0, True),
        (90.0, 59.0, False),
        (350.0, 10.0, True),  # across north: 20°
        (10.0, 350.0, True),
        (345.0, 16.0, False),  # 31° across north
        (0.0, 360.0, True),
        (0.0, 180.0, False),
    ],
)
def test_heading_limit(before_heading: float, after_heading: float, ok: bool) -> None:
    b = before(heading=before_heading)
    assert check_pair(b, after(b, heading=after_heading), RULES) == ([] if ok else ["heading_differs"])


def test_heading_difference_is_circular() -> None:
    assert heading_difference(350, 10) == pytest.approx(20)
    assert heading_difference(10, 350) == pytest.approx(20)
    assert heading_difference(0, 180) == 180
    assert heading_difference(-10, 10) == pytest.approx(20)


@pytest.mark.parametrize("which", ["before", "after"])
@pytest.mark.parametrize("heading", [None, math.nan])
def test_missing_heading_is_a_problem(which: str, heading: float | None) -> None:
    b = before()
    a = after(b)
    if which == "before":
        b = before(id=b.id, heading=heading)
    else:
        a = after(b, heading=heading)
    assert check_pair(b, a, RULES) == ["heading_missing"]


@pytest.mark.parametrize(
    ("delta", "ok"), [(timedelta(seconds=1), True), (timedelta(0), False), (timedelta(hours=-1), False)]
)
def test_after_must_be_taken_strictly_later(delta: timedelta, ok: bool) -> None:
    b = before()
    assert check_pair(b, after(b, taken_at=T0 + delta), RULES) == ([] if ok else ["not_taken_after"])


def test_kinds_and_naming() -> None:
    b = before()
    assert check_pair(b, after(b, before_id=uuid.uuid4()), RULES) == ["names_other_before"]
    assert check_pair(b, after(b, kind="evidence"), RULES) == ["not_an_after_photo"]
    evidence = before(kind="evidence")
    assert check_pair(evidence, after(evidence), RULES) == ["not_a_before_photo"]
    assert check_pair(b, after(b, case_id=uuid.uuid4()), RULES) == ["different_case"]
    assert check_pair(b, after(b, case_id=None), RULES) == []  # not yet attached: no case to compare


def test_all_problems_are_reported_together() -> None:
    b = before()
    a = after(b, 100.0, heading=200.0, taken_at=T0)
    assert check_pair(b, a, RULES) == ["too_far", "heading_differs", "not_taken_after"]


def test_nan_position_fails_instead_of_passing() -> None:
    b = before()
    assert "too_far" in check_pair(b, after(b, lat=math.nan), RULES)


@pytest.mark.parametrize("kinds", [[], ["before"], ["after"], ["before", "evidence"]])
def test_resolution_needs_a_before_and_an_after_photo(kinds: list[str]) -> None:
    b = before()
    photos = [b if kind == "before" else after(b, kind=kind) for kind in kinds]
    with pytest.raises(DomainError) as caught:
        check_resolution(photos, RULES)
    error = caught.value
    assert (error.code, error.field, error.status) == ("resolve_needs_photos", "photo_ids", 422)


def test_resolution_refuses_a_bad_retake_and_says_why() -> None:
    b = before()
    bad = after(b, 80.0)
    with pytest.raises(DomainError) as caught:
        check_resolution([b, after(b), bad], RULES)
    error = caught.value
    assert (error.code, error.field, error.status) == ("photos_not_same_angle", "photo_ids", 422)
    assert str(bad.id) in error.message and "80 m" in error.message


def test_resolution_refuses_an_after_photo_whose_before_is_not_given() -> None:
    b, elsewhere = before(), before()
    orphan = after(elsewhere)
    with pytest.raises(DomainError) as caught:
        check_resolution([b, after(b), orphan], RULES)
    assert caught.value.code == "photos_not_same_angle"
    assert str(orphan.id) in caught.value.message
    with pytest.raises(DomainError):
        check_resolution([b, after(b, before_id=None)], RULES)


def test_resolution_with_several_pairs() -> None:
    b1, b2 = before(), before(heading=270.0, lat=LAT + 0.01)
    check_resolution([b1, b2, after(b1, 10.0), after(b2, 20.0)], RULES)


@pytest.mark.parametrize(("lat", "lon", "accuracy"), [(0, 0, 0), (-90, -180, 5), (90, 180, 1500.5)])
def test_valid_gps(lat: float, lon: float, accuracy: float) -> None:
    validate_gps(lat, lon, accuracy)


@pytest.mark.parametrize(
    ("lat", "lon", "accuracy", "field"),
    [
        (90.01, 0, 0, "lat"),
        (-91, 0, 0, "lat"),
        (0, 180.5, 0, "lon"),
        (0, -181, 0, "lon"),
        (0, 0, -1, "accuracy_m"),
        (math.nan, 0, 0, "lat"),
        (0, math.nan, 0, "lon"),
        (0, 0, math.nan, "accuracy_m"),
        (math.inf, 0, 0, "lat"),
    ],
)
def test_invalid_gps(lat: float, lon: float, accuracy: float, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        validate_gps(lat, lon, accuracy)
    assert (caught.value.code, caught.value.field, caught.value.status) == ("gps_out_of_range", field, 422)
