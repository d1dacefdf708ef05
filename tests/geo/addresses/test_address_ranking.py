"""The ranking rule on its own: scores, their order, and when one candidate is clearly the answer."""

from __future__ import annotations

from geo.addresses.normalise import normalise
from geo.addresses.ranking import Scored, clear_best, rank, score


def entry(i: int, kind: str, text: str, lat: float = 31.22, lon: float = 121.45) -> Scored:
    return Scored(
        id=i, kind=kind, label=text, tokens=tuple(normalise(text).split()), lat=lat, lon=lon, score=0
    )


def q(text: str) -> list[str]:
    return normalise(text).split()


def test_the_road_decides_between_one_number_on_two_roads():
    ranked = rank(q("长宁路100号"), [entry(2, "door", "延安西路100号"), entry(1, "door", "长宁路100号")])
    assert [c.id for c in ranked] == [1, 2]
    assert ranked[0].score == 1.0 and ranked[1].score < 0.7


def test_a_near_number_is_not_the_number():
    assert score(q("长宁路100号"), q("长宁路10号")) < score(q("长宁路100号"), q("长宁路100号")) - 0.2


def test_a_missing_or_wrong_character_still_ranks_the_entry_first():
    pool = [
        entry(1, "door", "长宁路100号"),
        entry(2, "door", "延安西路100号"),
        entry(3, "door", "华山路100号"),
    ]
    for typed in ("长宁100号", "长林路100号"):
        assert rank(q(typed), pool)[0].id == 1, typed


def test_the_compound_ranks_above_the_doors_inside_it():
    pool = [entry(2, "door", "长宁路200号华山小区3栋2单元"), entry(1, "compound", "长宁路200号华山小区")]
    assert [c.id for c in rank(q("华山小区"), pool)] == [1, 2]


def test_equal_scores_are_ordered_by_kind_label_and_id():
    pool = [
        entry(5, "door", "乙路1号华山小区"),
        entry(4, "compound", "乙路1号华山小区"),
        entry(3, "compound", "甲路1号华山小区"),
    ]
    ranked = rank(q("华山小区"), pool)
    assert len({c.score for c in ranked}) == 1
    assert [c.id for c in ranked] == [4, 3, 5]  # compounds by label (乙 < 甲 by code point), then the door
    assert rank(q("华山小区"), list(reversed(pool))) == ranked


def test_clear_best_needs_a_score_and_a_margin_over_distant_rivals():
    rules = {"min_score": 0.75, "margin": 0.1, "agree_m": 150}
    one = entry(1, "door", "长宁路100号")
    two_roads = [one, entry(2, "door", "延安西路100号")]
    assert clear_best(q("长宁路100号"), rank(q("长宁路100号"), two_roads), **rules).id == 1
    far = [entry(1, "compound", "长宁路200号华山小区"), entry(2, "compound", "江苏路8号华山小区", lat=31.24)]
    assert clear_best(q("华山小区"), rank(q("华山小区"), far), **rules) is None
    near = [entry(1, "compound", "长宁路200号华山小区"), entry(2, "place", "华山小区阳光幼儿园", lat=31.2201)]
    assert clear_best(q("华山小区"), rank(q("华山小区"), near), **rules).id == 1
    assert clear_best(q("延安西路3号"), rank(q("延安西路3号"), [one]), **rules) is None  # weak
    assert clear_best(q("长宁路"), rank(q("长宁路"), [one]), **rules) is None  # a road is not a door
    assert clear_best(q("长宁路"), [], **rules) is None
