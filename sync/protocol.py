"""The wire shapes of the offline sync API (DESIGN §7, §12), as msgspec Structs."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.cases.schemas import GPS, CaseOut

__all__ = [
    "inline_schema",
    "mutation_hash",
    "Mutation",
    "MutationResult",
    "PullRequest",
    "PullResponse",
    "PushRequest",
    "PushResponse",
    "PUSH_ACTIONS",
    "ReportPayload",
]

# The field actions a handheld may push; the rest of the life cycle is the office's.
PUSH_ACTIONS = ("accept", "arrive", "note", "return", "resolve", "report")
PushAction = Literal["accept", "arrive", "note", "return", "resolve", "report"]


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
    client_time: datetime | None = None
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
    # Decoded one by one into `Mutation`, so that a malformed one is rejected alone instead of
    # failing the whole batch.
    mutations: Annotated[
        list[dict[str, Any]],
        msgspec.Meta(
            extra_json_schema={
                "description": "The changes, in the order they were made on the device",
                "extra": {"items": inline_schema(Mutation)},
            }
        ),
    ]


class MutationResult(msgspec.Struct, omit_defaults=True):
    id: str
    status: Literal["applied", "duplicate", "rejected", "conflict"]
    code: str | None = None
    message: str | None = None
    case: CaseOut | None = None


class PushResponse(msgspec.Struct):
    results: list[MutationResult]


def mutation_hash(mutation: Mutation) -> str:
    """Identity of a mutation's body: a replay must match it exactly to count as the same one."""
    body = msgspec.json.encode(msgspec.to_builtins(mutation), order="sorted")
    return hashlib.sha256(body).hexdigest()
