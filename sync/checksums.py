"""The verify checksums of DESIGN §7, in Python and, beside it, in SQL (tested equal).

A phone's copy of its scope is split into 16 buckets by the first hex digit of the case id. A
bucket's checksum is the sum modulo 2^64 of, for each case in it, the first 8 bytes of
SHA-256("<case id>:<version>") read as a big-endian unsigned integer, written in decimal ("0"
for an empty bucket). A sum does not depend on the order the phone keeps its cases in, and a
lost case, a stale version or a case too many each change it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

__all__ = [
    "BUCKET_SQL",
    "BUCKETS",
    "MAX_CHECKSUM",
    "bucket_of",
    "bucket_sums",
    "bucket_sums_sql",
    "case_digest",
    "differing",
]

BUCKETS = 16
_MODULUS = 2**64
MAX_CHECKSUM = _MODULUS - 1


def bucket_of(case_id: uuid.UUID) -> int:
    """The first hex digit of the id."""
    return case_id.int >> 124


def case_digest(case_id: uuid.UUID, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{case_id}:{version}".encode()).digest()[:8], "big")


def bucket_sums(cases: Iterable[tuple[uuid.UUID, int]]) -> list[str]:
    """The 16 checksums of a copy given as (case id, version) pairs."""
    sums = [0] * BUCKETS
    for case_id, version in cases:
        b = bucket_of(case_id)
        sums[b] = (sums[b] + case_digest(case_id, version)) % _MODULUS
    return [str(s) for s in sums]


def differing(phone: list[str], server: list[str]) -> list[int]:
    """Buckets whose checksums disagree (compared as numbers: "007" is 7)."""
    return [b for b, (mine, theirs) in enumerate(zip(phone, server, strict=True)) if int(mine) != int(theirs)]


# The same rule over `cases` rows. The 8 bytes become a signed bigint (`bit(64)::bigint`), which
# is the unsigned value modulo 2^64, so the sum is taken in numeric and brought into [0, 2^64).
BUCKET_SQL = "(get_byte(uuid_send(id), 0) >> 4)"
_DIGEST_SQL = (
    "('x' || left(encode(sha256(convert_to(id::text || ':' || version::text, 'UTF8')), 'hex'), 16))"
    "::bit(64)::bigint::numeric"
)


def bucket_sums_sql(where: str) -> str:
    """A query of (bucket, checksum text) for the non-empty buckets of the cases matching `where`."""
    return (
        f"SELECT {BUCKET_SQL} AS bucket, "
        f"((sum({_DIGEST_SQL}) % {_MODULUS} + {_MODULUS}) % {_MODULUS})::text AS checksum "
        f"FROM cases WHERE {where} GROUP BY 1"
    )
