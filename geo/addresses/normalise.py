"""The address normaliser (地址规范化): what a caller says and what the register holds, made comparable.

Pure code, no I/O. Both sides go through `normalise`, so the register's search text and a typed
query agree on every form the caller may use:

- full-width characters become half-width (NFKC): `１２号` → `12号`, `（` → `(`;
- Chinese numerals before a door-plate word become digits: `三号楼` → `3号楼`, `十二栋` → `12栋`;
- one word per thing: 幢, 号楼, 座 and `#`楼 are 栋 (a building), 号房 and a bare room number after
  a unit are 室, and the shorthand `3-2-501` is `3栋2单元501室`;
- the city, district and street prefixes the register knows are dropped, and so is a leading
  `…市…区`, which callers add or leave out at will;
- spaces and punctuation go; the rest is split into tokens (a road, a number with its word, a
  name), joined by single spaces, so that pg_trgm sees each token as a word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["chinese_number", "names_of", "normalise", "plates_of", "tokens"]

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_SCALES = {"十": 10, "百": 100, "千": 1000}
_NUMERALS = "".join(_DIGITS) + "".join(_SCALES)
# The words that follow a door-plate number (号 plate, 弄 lane, 栋 building, 单元 entrance, 室 room).
_PLATE_WORDS = "号楼|号房|号|弄|栋|幢|座|单元|室|层|楼"
_CHINESE_PLATE = re.compile(f"([{_NUMERALS}]+)(?=(?:{_PLATE_WORDS}))")
_SHORTHAND_3 = re.compile(r"(\d+)-(\d+)-(\d+)(?!\d|-)")
_SHORTHAND_2 = re.compile(r"(\d+)-(\d+)(?!\d|-)(?!号|弄)")
_HASH_BUILDING = re.compile(r"(\d+)#(?:楼|栋)?")
_SYNONYMS = (
    (re.compile(r"(\d+|[a-z])(?:号楼|幢|座|楼(?=\d))"), r"\1栋"),
    (re.compile(r"(\d+)号房"), r"\1室"),
    # A bare number right after a unit is its room: `2单元501` → `2单元501室`.
    (re.compile(r"(单元)(\d+)(?![\d室])"), r"\1\2室"),
)
# A leading `上海市黄浦区`: callers give it or not; a bare `…区` alone could be a compound (小区).
_CITY_DISTRICT = re.compile(r"^[^\d\s]{2,4}?市[^\d\s]{2,4}?[区县]")
_TOKEN = re.compile(r"\d+(?:单元|[号弄栋室层])?|[a-z]+栋?|[^\da-z]+?(?:大道|路|街|巷)|[^\da-z]+")


def chinese_number(text: str) -> int | None:
    """`十二` → 12, `一百零五` → 105, `三五` → 35 (digit by digit); None if not all numerals."""
    if not text or any(c not in _DIGITS and c not in _SCALES for c in text):
        return None
    if not any(c in _SCALES for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))
    total, digit = 0, 0
    for c in text:
        if c in _DIGITS:
            digit = _DIGITS[c]
        else:
            total += (digit or 1) * _SCALES[c]
            digit = 0
    return total + digit


def _arabic(match: re.Match[str]) -> str:
    number = chinese_number(match.group(1))
    return str(number) if number is not None else match.group(1)


def _kept(c: str) -> bool:
    # Letters (CJK included), digits, and the `-`/`#` of shorthand plates survive; the rest is noise.
    return c in "-#" or unicodedata.category(c)[0] in "LN"


def _strip_prefixes(text: str, prefixes: Iterable[str]) -> str:
    known = sorted({unicodedata.normalize("NFKC", p).lower() for p in prefixes if p}, key=len, reverse=True)
    text = _CITY_DISTRICT.sub("", text, count=1)
    stripped = True
    while stripped:
        stripped = False
        for prefix in known:
            if text.startswith(prefix) and len(text) > len(prefix):
                text, stripped = text[len(prefix) :], True
    return text


def _compact(text: str, prefixes: Iterable[str]) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c for c in text if _kept(c))
    text = _strip_prefixes(text, prefixes)
    text = _CHINESE_PLATE.sub(_arabic, text)
    text = _HASH_BUILDING.sub(r"\1栋", text)
    text = _SHORTHAND_3.sub(r"\1栋\2单元\3室", text)
    text = _SHORTHAND_2.sub(r"\1栋\2室", text)
    for pattern, replacement in _SYNONYMS:
        text = pattern.sub(replacement, text)
    return text.replace("-", "").replace("#", "")


def tokens(text: str, prefixes: Iterable[str] = ()) -> tuple[str, ...]:
    """The tokens of an address: `长宁路100号华山小区3幢` → (`长宁路`, `100号`, `华山小区`, `3栋`)."""
    return tuple(_TOKEN.findall(_compact(text, prefixes)))


def normalise(text: str, prefixes: Iterable[str] = ()) -> str:
    """The comparable form of an address: its tokens joined by single spaces ('' for noise only)."""
    return " ".join(tokens(text, prefixes))


def names_of(norm_tokens: Iterable[str]) -> str:
    """The name tokens (roads, compounds, places) of normalised tokens, space-separated."""
    return " ".join(t for t in norm_tokens if not t[0].isdigit())


def plates_of(norm_tokens: Iterable[str]) -> list[str]:
    """The door-plate numbers (`100号`, `12弄`): what pins a door on a road."""
    return [t for t in norm_tokens if t[0].isdigit() and t[-1] in "号弄"]
