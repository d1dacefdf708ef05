"""The wire shapes of the offline sync API (DESIGN §7, §12), as msgspec Structs."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal

import msgspec

from server.cases.schemas import GPS, AwareDatetime, CaseOut
from sync.checksums import BUCKETS, MAX_CHECKSUM

__all__ = [
    "inline_schema",
    "mutation_hash",
    "Mutation",
    "MutationResult",
    "PullRequest",
    "PullResponse",
    "PushRequest",
    "PushResponse",
    "RepairedBucket",
    "ReportPayload",
    "VerifyRequest",
    "VerifyResponse",
]

# The field actions a handheld may push; the rest of the life cycle is the office's.
FieldAction = Literal["accept", "arrive", "note", "return", "resolve"]
PushAction = Literal[FieldAction, "report"]


def inline_schema(struct_type: type) -> dict[str, Any]:
    """A Struct's JSON Schema with every reference resolved in place, for OpenAPI documentation of
    a field the handler decodes by itself (so the schema registry never sees the type)."""
    (top,), components = msgspec.json.schema_components([struct_type], ref_template="{name}")

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(components[node["$ref"]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(top)


class PullRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_id: uuid.UUID
    cursor: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] = 100


class PullResponse(msgspec.Struct):
    cases: list[CaseOut]
    # Ids of cases that left the device's scope (reassigned, returned, archived): drop them.
    tombstones: list[uuid.UUID]
    cursor: str
    has_more: bool


class Mutation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One change made on the handheld, possibly offline, with a UUID the phone chose."""

    id: uuid.UUID
    case_id: uuid.UUID
    base_version: Annotated[int, msgspec.Meta(ge=0)]
    action: PushAction
    payload: dict[str, Any] = {}
    # Recorded on the event, never trusted for deadlines (DESIGN §7).
    client_time: AwareDatetime | None = None
    gps: GPS | None = None


class ReportPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A case found on patrol (巡查上报); `category` is the category's code or id."""

    category: str | int
    type: Literal["consult", "help", "complaint", "report", "suggestion"]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    urgency: Literal["normal", "important", "urgent"] = "normal"


class PushRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_id: uuid.UUID
    # Decoded one by one into `Mutation`, so that a malformed one (even one that is not an object)
    # is rejected alone instead of failing the whole batch.
    mutations: Annotated[
        list[Any],
        msgspec.Meta(
            extra_json_schema={
                "description": "The changes, in the order they were made on the device",
                "extra": {"items": inline_schema(Mutation)},
            }
        ),
    ]


PushStatus = Literal["applied", "duplicate", "rejected", "conflict"]


class MutationResult(msgspec.Struct, omit_defaults=True):
    id: str
    status: PushStatus
    code: str | None = None
    message: str | None = None
    # On a `duplicate`: the status the mutation was first answered with.
    original_status: PushStatus | None = None
    case: CaseOut | None = None


class PushResponse(msgspec.Struct):
    results: list[MutationResult]


def mutation_hash(mutation: Mutation) -> str:
    """Identity of a mutation's body: a replay must match it to count as the same one. The GPS
    accuracy counts under one name, written as it was before `accuracy_m`, so a replay matches
    whichever name the phone used and a mutation stored before the rename."""
    body = msgspec.to_builtins(mutation)
    if mutation.gps is not None:
        body["gps"] = {
            "lat": mutation.gps.lat,
            "lon": mutation.gps.lon,
            "accuracy": mutation.gps.accuracy_m or 0.0,
        }
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


def raw_hash(raw: object) -> str:
    """Identity of a mutation that does not decode, for a replay of it to match."""
    return hashlib.sha256(msgspec.json.encode(raw, order="sorted")).hexdigest()


Checksum = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}$", description="a decimal integer below 2^64")]


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The phone's checksums of its copy, bucket 0 (case ids starting 0) to 15 (DESIGN §7)."""

    device_id: uuid.UUID
    buckets: Annotated[
        list[Checksum],
        msgspec.Meta(
            min_length=BUCKETS,
            max_length=BUCKETS,
            description="For each first hex digit of the case id, the sum modulo 2^64 of the first 8 "
            'bytes of SHA-256("<case id>:<version>") (big-endian) over the cases held; "0" when none',
        ),
    ]

    def __post_init__(self) -> None:
        if any(int(b) > MAX_CHECKSUM for b in self.buckets):
            raise ValueError("Expected every checksum below 2^64")


class RepairedBucket(msgspec.Struct):
    bucket: int
    # Every case of the bucket in the caller's scope: the phone's bucket becomes exactly these.
    cases: list[CaseOut]


class VerifyResponse(msgspec.Struct):
    ok: bool
    repaired: list[RepairedBucket]
