"""How well a register entry answers a typed address, and when one answer is clearly the best.

Pure code over normalised tokens (`geo.addresses.normalise`). The database finds candidates by
trigram similarity (pg_trgm); this module scores them the same way whatever their order:

- **recall** (how much of what the caller said the entry holds, weight 0.8): the characters of the
  query's names found in the entry's names in order (a missing or wrong character costs only
  itself), and the door-plate numbers found exactly (`100号` is not `10号`; a number counts as
  two characters, since it pins a door where a name only narrows a street);
- **precision** (how little the entry adds, weight 0.2): the same over the entry's side, so the
  compound itself ranks above the doors inside it when only the compound is named.

Ties are broken deterministically: score, then kind (a compound, then a named place, then a door
plate), then label and id. `clear_best` is the intake rule: a candidate is taken only when it
scores at least `min_score`, every rival within `margin` of it lies within `agree_m` metres (two
compounds of one name in different streets are never guessed between, while a school and the
compound around it are not a real choice), and, for a door plate, the caller named its number (a
road alone is not a door).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Literal

import msgspec

__all__ = ["KINDS", "Kind", "Scored", "clear_best", "distance_m", "rank", "score"]

Kind = Literal["compound", "place", "door"]
KINDS: tuple[str, ...] = ("compound", "place", "door")
_NUMBER_WEIGHT = 2
_RECALL_WEIGHT = 0.8


class Scored(msgspec.Struct, frozen=True, kw_only=True):
    """A candidate with its score; `lat`/`lon` let `clear_best` see whether rivals agree."""

    id: int
    kind: Kind
    label: str
    tokens: tuple[str, ...]
    lat: float
    lon: float
    score: float


def _split(tokens: Sequence[str]) -> tuple[str, frozenset[str]]:
    names = "".join(t for t in tokens if not t[0].isdigit())
    return names, frozenset(t for t in tokens if t[0].isdigit())


def score(query: Sequence[str], entry: Sequence[str]) -> float:
    """0 (nothing in common) to 1 (the same tokens), rounded to 4 places so ties are exact."""
    q_names, q_numbers = _split(query)
    e_names, e_numbers = _split(entry)
    q_weight = len(q_names) + _NUMBER_WEIGHT * len(q_numbers)
    e_weight = len(e_names) + _NUMBER_WEIGHT * len(e_numbers)
    if not q_weight or not e_weight:
        return 0.0
    blocks = SequenceMatcher(None, q_names, e_names, autojunk=False).get_matching_blocks()
    same = sum(b.size for b in blocks) + _NUMBER_WEIGHT * len(q_numbers & e_numbers)
    recall, precision = same / q_weight, same / e_weight
    return round(_RECALL_WEIGHT * recall + (1 - _RECALL_WEIGHT) * precision, 4)


def rank(query: Sequence[str], candidates: Sequence[Scored]) -> list[Scored]:
    """The candidates rescored against the query, best first, in the deterministic order above."""
    scored = [msgspec.structs.replace(c, score=score(query, c.tokens)) for c in candidates]
    return sorted(scored, key=lambda c: (-c.score, KINDS.index(c.kind), c.label, c.id))


def distance_m(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance in metres (haversine): plenty at the scale of a district."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def clear_best(
    query: Sequence[str], ranked: Sequence[Scored], *, min_score: float, margin: float, agree_m: float
) -> Scored | None:
    """The first candidate when it is clearly the answer to the query (module docstring), else None."""
    if not ranked or ranked[0].score < min_score:
        return None
    best = ranked[0]
    if best.kind == "door" and not _split(query)[1] & _split(best.tokens)[1]:
        return None
    for rival in ranked[1:]:
        if rival.score <= best.score - margin:
            break
        if distance_m(best.lat, best.lon, rival.lat, rival.lon) > agree_m:
            return None
    return best
