"""Log-in and log-out, bearer tokens, devices, and the `Actor` every request acts as (DESIGN §1).

Tokens are random and only their SHA-256 is stored, so a leaked database does not leak sessions.
Expired tokens are pruned at each log-in, a batch at a time: every token comes from a log-in, so
the table cannot grow beyond the tokens still valid plus one batch.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from litestar import Request

from server.accounts import throttle
from server.accounts.domain import Actor
from server.accounts.passwords import hash_password, needs_rehash, verify_password
from server.db import fetch
from server.errors import DomainError
from server.settings import Settings
from server.tables import AuthToken, Device, User
from server.types import Name, Password, ShortText, Username

__all__ = [
    "actor_for_token",
    "token_hash",
    "LoginRequest",
    "LoginResponse",
    "UserOut",
    "DeviceRequest",
    "DeviceResponse",
    "bearer_token",
    "hash_password",
    "login",
    "logout",
    "provide_actor",
    "register_device",
]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password


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
    name: Name
    platform: ShortText
    app_version: ShortText


class DeviceResponse(msgspec.Struct):
    device_id: uuid.UUID


def token_hash(token: str) -> str:
    """How a token is stored and looked up: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


async def login(body: LoginRequest, settings: Settings, address: str) -> LoginResponse:
    """A token for the right password; 401 otherwise, 429 while the username or address is locked."""
    await throttle.claim(body.username, address, settings)
    row = await User.select().where((User.username == body.username) & (User.active.eq(True))).first()
    matches = await verify_password(row["password_hash"] if row else None, body.password, settings)
    if not matches or row is None:
        await throttle.failed(address, settings)
        raise DomainError("invalid_credentials", "wrong username or password", status=401)
    await throttle.succeeded(body.username)
    if needs_rehash(row["password_hash"], settings):
        await User.update({User.password_hash: hash_password(body.password, settings)}).where(
            User.id == row["id"]
        )
    await _prune(settings)
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(hours=settings.token_ttl_hours)
    await AuthToken.insert(
        AuthToken(
            token_hash=token_hash(token),
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


async def _prune(settings: Settings) -> None:
    await fetch(
        "DELETE FROM auth_tokens WHERE token_hash IN "
        "(SELECT token_hash FROM auth_tokens WHERE expires_at <= now() LIMIT 100)"
    )
    await throttle.prune(settings)


async def logout(token: str) -> None:
    """Revoke the token: every later request with it answers 401."""
    rows = await fetch(
        "DELETE FROM auth_tokens WHERE token_hash = {} RETURNING expires_at > now() AS valid",
        token_hash(token),
    )
    if not rows or not rows[0]["valid"]:
        raise DomainError("unauthorized", "the token is unknown or expired; log in again", status=401)


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer …`; 401 when there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise DomainError(
            "unauthorized", "send Authorization: Bearer <token> from POST /auth/login", status=401
        )
    return token


async def actor_for_user(user: dict) -> Actor:
    """The Actor of a user row (the CLI, the demo loader and tests act as someone without a token)."""
    rows = await fetch(_BY_USER, user["id"])
    return _actor(rows[0])


async def provide_actor(request: Request) -> Actor:
    """The Litestar dependency behind every authenticated route."""
    actor, _ = await actor_for_token(bearer_token(request))
    return actor


async def actor_for_token(token: str) -> tuple[Actor, datetime]:
    """The token's Actor and when the token expires; 401 for an unknown, expired or disabled one."""
    rows = await fetch(_BY_TOKEN, token_hash(token))
    if not rows or rows[0]["expires_at"] <= datetime.now(UTC):
        raise DomainError("unauthorized", "the token is unknown or expired; log in again", status=401)
    if not rows[0]["active"]:
        raise DomainError("unauthorized", "this user is disabled", status=401)
    return _actor(rows[0]), rows[0]["expires_at"]


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
