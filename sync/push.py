"""Push: a batch of mutations from a handheld, each taking effect exactly once (DESIGN §7).

A batch runs in one transaction, each mutation in a savepoint of it that also stores its result
under the phone's UUID, so its effects and its stored result commit together (one commit per
batch). A refused mutation is rolled back to its savepoint and its refusal stored; the rest of
the batch goes on. A replay finds the stored result with one primary-key lookup. Two copies of
the same mutation racing each other (a retried request while the first is still running) meet at
the primary key: the loser's savepoint rolls back and it answers with the winner's result. A
batch locks its cases first, in id order, so batches sharing cases wait for each other instead of
deadlocking; should PostgreSQL still abort one (a deadlock with another writer, a serialization
failure), it runs again whole.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
from asyncpg.exceptions import (
    DataError,
    DeadlockDetectedError,
    ProgramLimitExceededError,
    SerializationError,
    UniqueViolationError,
)

from geo.addresses.search import AddressRegister
from geo.assign import cell_at
from server.accounts.domain import Actor
from server.accounts.roles import FIELD_ROLES
from server.cases import lifecycle
from server.cases import service as cases
from server.cases.domain import CaseState
from server.cases.intake import register_case
from server.cases.schemas import CaseCreate, Origin, Registration
from server.db import fetch, transaction
from server.errors import DomainError, StaleVersion
from server.settings import get_settings
from server.tables import Case, Category
from sync.conflicts import refuse_if_stale
from sync.protocol import (
    FieldAction,
    Mutation,
    MutationResult,
    PushResponse,
    ReportPayload,
    mutation_hash,
    raw_hash,
)

__all__ = ["push"]

# Tries of a batch that meets a deadlock or a serialization failure before the phone is told to retry.
_ATTEMPTS = 5


async def push(actor: Actor, device_id: uuid.UUID, raw_mutations: list[Any]) -> PushResponse:
    """Results in the order sent; a later mutation on a case sees what an earlier one did to it."""
    parsed = [_parse(raw) for raw in raw_mutations]
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with transaction() as batch:
                results = await _push_batch(batch, actor, device_id, parsed)
            return PushResponse(results=await _with_cases(results, parsed, actor))
        except (DeadlockDetectedError, SerializationError):
            # Another batch locked the same cases in another order: nothing of this one stayed.
            await asyncio.sleep(random.uniform(0.002, 0.02) * attempt)
    raise DomainError("sync_busy", "other pushes hold these cases; send the batch again", status=503)


# The results that show the phone its case: what it changed, what changed under it, a replay of either.
_SHOWS_CASE = frozenset({"applied", "conflict"})


async def _with_cases(
    results: list[MutationResult], parsed: list[_Decoded | _Malformed], actor: Actor
) -> list[MutationResult]:
    """Each result with its case as the caller may see it now, once the batch committed: one read
    for the whole batch, however many of its mutations touched a case. A case the batch took out
    of the caller's scope (a return) is not shown; the next pull brings its tombstone."""
    shown = [
        item.case_id
        for item, result in zip(parsed, results, strict=True)
        if (result.original_status or result.status) in _SHOWS_CASE
    ]
    views = await cases.visible_views(sorted(set(shown)), actor) if shown else {}
    return [
        msgspec.structs.replace(result, case=views.get(item.case_id))
        for item, result in zip(parsed, results, strict=True)
    ]


async def _push_batch(
    batch: Any, actor: Actor, device_id: uuid.UUID, parsed: list[_Decoded | _Malformed]
) -> list[MutationResult]:
    # A replayed batch costs one lookup for all of its mutations.
    ids = [m.id for m in parsed if m.id is not None]
    stored = {
        r["id"]: r
        for r in await fetch(
            "SELECT id, device_id, body_hash, result::text AS result FROM mutations "
            "WHERE id = ANY({}::uuid[])",
            ids,
        )
    }
    # Batches lock their cases in one order, so two of them sharing cases wait, not deadlock.
    await fetch(
        "SELECT 1 FROM cases WHERE district_id = {} AND id = ANY({}::uuid[]) ORDER BY id FOR UPDATE",
        actor.district_id,
        sorted({m.case_id for m in parsed if isinstance(m, _Decoded) and m.id not in stored}),
    )
    results = []
    for item in parsed:
        if item.id in stored:
            results.append(_replay(stored[item.id], item.body_hash, device_id))
        elif isinstance(item, _Decoded):
            results.append(await _push_one(batch, actor, device_id, item))
        elif item.id is None:
            results.append(item.refusal)  # no UUID to store the refusal under
        else:
            results.append(await _settle(actor, device_id, item, item.refusal))
    return results


class _Decoded(NamedTuple):
    id: uuid.UUID
    case_id: uuid.UUID
    body_hash: str
    mutation: Mutation


class _Malformed(NamedTuple):
    """A mutation that does not decode; stored under its id when it has a UUID one."""

    id: uuid.UUID | None
    case_id: uuid.UUID
    body_hash: str
    refusal: MutationResult


_NO_CASE = uuid.UUID(int=0)  # stored for a malformed mutation whose case id is not a UUID
_MESSAGE_CHARS = 300


def _parse(raw: Any) -> _Decoded | _Malformed:
    try:
        mutation = msgspec.convert(raw, Mutation)
    except msgspec.ValidationError as exc:
        fields = raw if isinstance(raw, dict) else {}
        refusal = MutationResult(
            id=str(fields.get("id", ""))[:64],
            status="rejected",
            code="invalid_mutation",
            message=_short(str(exc)),
        )
        return _Malformed(
            _uuid(fields.get("id")), _uuid(fields.get("case_id")) or _NO_CASE, raw_hash(raw), refusal
        )
    return _Decoded(mutation.id, mutation.case_id, mutation_hash(mutation), mutation)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _short(message: str) -> str:
    """msgspec quotes a bad enum value whole: keep stored refusals small."""
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 1] + "…"


async def _push_one(batch: Any, actor: Actor, device_id: uuid.UUID, item: _Decoded) -> MutationResult:
    """One mutation in a savepoint of the batch's transaction: its effects and its stored result
    stay together, or are undone together when it is refused."""
    mutation, now = item.mutation, datetime.now(UTC)
    savepoint = await batch.savepoint()
    try:
        result = await _apply(actor, device_id, mutation, now)
        if await _record(item, actor, device_id, result):
            return result
        # A racing copy of the mutation stored its result first: undo this one's effects.
        await savepoint.rollback_to()
        return _replay_stored(await _stored(item), item, device_id)
    except DomainError as exc:
        refusal = exc
    except UniqueViolationError as exc:
        if exc.constraint_name != "cases_pkey":
            raise
        # Two copies of a report raced past the `exists` check; the loser meets the winner's row.
        refusal = _case_exists(mutation.case_id)
    except (DataError, ProgramLimitExceededError):
        # A value the database cannot hold (a NUL character, a date beyond its range): this
        # mutation is refused for good and the rest of the batch goes on.
        refusal = DomainError(
            "invalid_value",
            "a value in this mutation cannot be stored (a NUL character, or a date or number out of range)",
        )
    await savepoint.rollback_to()
    return await _settle(actor, device_id, item, _refusal(mutation, refusal))


async def _settle(
    actor: Actor, device_id: uuid.UUID, item: _Decoded | _Malformed, result: MutationResult
) -> MutationResult:
    """Store a refusal too, so that a replay answers the same; if a racing copy stored its result
    first, that one stands."""
    if await _record(item, actor, device_id, result):
        return result
    return _replay_stored(await _stored(item), item, device_id)


async def _stored(item: _Decoded | _Malformed) -> dict[str, Any] | None:
    rows = await fetch(
        "SELECT device_id, body_hash, result::text AS result FROM mutations WHERE id = {}", item.id
    )
    return rows[0] if rows else None


def _replay_stored(
    stored: dict[str, Any] | None, item: _Decoded | _Malformed, device_id: uuid.UUID
) -> MutationResult:
    assert stored is not None, "a mutation id collided but no stored result was found"
    return _replay(stored, item.body_hash, device_id)


def _replay(stored: dict[str, Any], body_hash: str, device_id: uuid.UUID) -> MutationResult:
    original = msgspec.json.decode(stored["result"], type=MutationResult)
    if stored["body_hash"] != body_hash or stored["device_id"] != device_id:
        return MutationResult(
            id=original.id,
            status="rejected",
            code="mutation_id_reused",
            message="this mutation id was already used for a different change; the first stands",
        )
    return msgspec.structs.replace(original, status="duplicate", original_status=original.status)


async def _record(
    item: _Decoded | _Malformed, actor: Actor, device_id: uuid.UUID, result: MutationResult
) -> bool:
    rows = await fetch(
        "INSERT INTO mutations (id, district_id, device_id, user_id, case_id, body_hash, status, result, "
        "created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}::jsonb, now()) ON CONFLICT (id) DO NOTHING RETURNING id",
        item.id,
        actor.district_id,
        device_id,
        actor.user_id,
        item.case_id,
        item.body_hash,
        result.status,
        msgspec.json.encode(result).decode(),
    )
    return bool(rows)


def _refusal(mutation: Mutation, exc: DomainError) -> MutationResult:
    if isinstance(exc, StaleVersion):
        return MutationResult(id=str(mutation.id), status="conflict", code=exc.code, message=exc.message)
    return MutationResult(id=str(mutation.id), status="rejected", code=exc.code, message=_short(exc.message))


async def _apply(actor: Actor, device_id: uuid.UUID, mutation: Mutation, now: datetime) -> MutationResult:
    if mutation.action == "report":
        await _report(actor, device_id, mutation, now)
    else:
        await _act(actor, device_id, mutation, mutation.action, now)
    # The stored result is small; the answer shows the case as it is once the batch committed.
    return MutationResult(id=str(mutation.id), status="applied")


async def _act(
    actor: Actor, device_id: uuid.UUID, mutation: Mutation, action: FieldAction, now: datetime
) -> None:
    command = lifecycle.Command(action=action, payload=lifecycle.parse_payload(action, mutation.payload))

    async def no_conflict(state: CaseState) -> None:
        await refuse_if_stale(mutation.action, mutation.base_version, state, device_id)

    await cases.act(
        mutation.case_id, command, actor, origin=_origin(device_id, mutation), now=now, guard=no_conflict
    )


def _origin(device_id: uuid.UUID, mutation: Mutation) -> Origin:
    return Origin(
        device_id=device_id, mutation_id=mutation.id, client_time=mutation.client_time, gps=mutation.gps
    )


async def _report(actor: Actor, device_id: uuid.UUID, mutation: Mutation, now: datetime) -> None:
    if actor.role not in FIELD_ROLES:
        raise DomainError("forbidden_role", f"a {actor.role} does not report cases from patrol", status=403)
    try:
        payload = msgspec.convert(mutation.payload, ReportPayload)
    except msgspec.ValidationError as exc:
        raise DomainError("invalid_payload", str(exc), "payload", 422) from None
    if mutation.base_version != 0:
        raise DomainError(
            "invalid_base_version", "a new case is reported with base_version 0", "base_version", 422
        )
    if await Case.exists().where(Case.id == mutation.case_id):
        raise _case_exists(mutation.case_id)
    body = CaseCreate(
        type=payload.type,
        description=payload.description,
        channel="patrol",
        category_id=await _category_id(actor.district_id, payload.category),
        urgency=payload.urgency,
        address=payload.address,
        lat=payload.lat,
        lon=payload.lon,
    )
    who = Registration(
        district_id=actor.district_id,
        actor=actor,
        now=now,
        case_id=mutation.case_id,
        origin=_origin(device_id, mutation),
        reported_by=actor.user_id,
    )
    # A patrol report has the phone's point; the register names it when no address was typed.
    await register_case(body, who, cell_at, AddressRegister(get_settings()))


def _case_exists(case_id: uuid.UUID) -> DomainError:
    return DomainError(
        "case_exists", f"case {case_id} already exists; report with a new UUID", "case_id", 409
    )


async def _category_id(district_id: int, category: str | int) -> int:
    column = Category.id if isinstance(category, int) else Category.code
    row = (
        await Category.select(Category.id)
        .where((column == category) & (Category.district_id == district_id))
        .first()
    )
    if row is None:
        raise DomainError(
            "unknown_category", f"no category {category!r} in this district", "payload.category", 422
        )
    return row["id"]
