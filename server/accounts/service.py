"""Log-in, bearer tokens, devices, and the `Actor` every request acts as (DESIGN §1).

Tokens are random and only their SHA-256 is stored, so a leaked database does not leak sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from litestar import Request

from server.accounts.domain import Actor
from server.db import fetch
from server.errors import DomainError
from server.tables import AuthToken, Device, User

__all__ = [
    "LoginRequest",
    "LoginResponse",
    "UserOut",
    "DeviceRequest",
    "DeviceResponse",
    "hash_password",
    "login",
    "provide_actor",
    "register_device",
]

_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class UserOut(msgspec.Struct):
    id: int
    name: str
    role: str
    district_id: int
    unit_id: int | None


class LoginResponse(msgspec.Struct):
    token: str
    expires_at: datetime
    user: UserOut


class DeviceRequest(msgspec.Struct):
    name: str
    platform: str
    app_version: str


class DeviceResponse(msgspec.Struct):
    device_id: uuid.UUID


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(body: LoginRequest, ttl_hours: int) -> LoginResponse:
    row = await User.select().where((User.username == body.username) & (User.active.eq(True))).first()
    try:
        if row is None:
            raise VerifyMismatchError
        _hasher.verify(row["password_hash"], body.password)
    except (VerifyMismatchError, InvalidHashError):
        raise DomainError("invalid_credentials", "wrong username or password", status=401) from None
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(hours=ttl_hours)
    await AuthToken.insert(
        AuthToken(
            token_hash=_token_hash(token),
            district_id=row["district_id"],
            user_id=row["id"],
            expires_at=expires_at,
        )
    )
    user = UserOut(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        district_id=row["district_id"],
        unit_id=row["unit_id"],
    )
    return LoginResponse(token=token, expires_at=expires_at, user=user)


# Everything an Actor needs in one round trip: leaders read their unit's subtree, other unit
# members their unit, grid workers their cells; the chain up to the root unit names the
# accusations nobody in the unit may read.
_ACTOR_SQL = """
SELECT u.id, u.role, u.district_id, u.unit_id, u.active, {expires} AS expires_at,
    CASE WHEN u.unit_id IS NULL THEN ARRAY[]::integer[]
         WHEN u.role IN ('unit_leader', 'squad_leader') THEN ARRAY(
             WITH RECURSIVE t(id) AS (
                 SELECT u.unit_id UNION SELECT x.id FROM units x JOIN t ON x.parent_id = t.id)
             SELECT id FROM t)
         ELSE ARRAY[u.unit_id] END AS unit_ids,
    ARRAY(
        -- UNION (not ALL) ends even on a parent cycle in stored data.
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT x.id, x.parent_id FROM units x WHERE x.id = u.unit_id
            UNION SELECT x.id, x.parent_id FROM units x JOIN up ON x.id = up.parent_id)
        SELECT id FROM up) AS unit_chain,
    ARRAY(SELECT grid_id FROM grid_workers WHERE user_id = u.id) AS grid_ids
FROM {source} WHERE {where}
"""
_BY_TOKEN = _ACTOR_SQL.format(
    expires="t.expires_at",
    source="auth_tokens t JOIN app_users u ON u.id = t.user_id",
    where="t.token_hash = {}",
)
_BY_USER = _ACTOR_SQL.format(expires="NULL::timestamptz", source="app_users u", where="u.id = {}")


def _actor(row: dict) -> Actor:
    return Actor(
        user_id=row["id"],
        role=row["role"],
        district_id=row["district_id"],
        unit_id=row["unit_id"],
        unit_ids=frozenset(row["unit_ids"]),
        unit_chain=frozenset(row["unit_chain"]),
        grid_ids=frozenset(row["grid_ids"]),
    )


async def actor_for_user(user: dict) -> Actor:
    """The Actor of a user row (the CLI, the demo loader and tests act as someone without a token)."""
    rows = await fetch(_BY_USER, user["id"])
    return _actor(rows[0])


async def provide_actor(request: Request) -> Actor:
    """The Litestar dependency behind every authenticated route."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise DomainError(
            "unauthorized", "send Authorization: Bearer <token> from POST /auth/login", status=401
        )
    rows = await fetch(_BY_TOKEN, _token_hash(token))
    if not rows or rows[0]["expires_at"] <= datetime.now(UTC):
        raise DomainError("unauthorized", "the token is unknown or expired; log in again", status=401)
    if not rows[0]["active"]:
        raise DomainError("unauthorized", "this user is disabled", status=401)
    return _actor(rows[0])


async def register_device(body: DeviceRequest, actor: Actor) -> DeviceResponse:
    device_id = uuid.uuid4()
    await Device.insert(
        Device(
            id=device_id,
            district_id=actor.district_id,
            user_id=actor.user_id,
            name=body.name,
            platform=body.platform,
            app_version=body.app_version,
        )
    )
    return DeviceResponse(device_id=device_id)
