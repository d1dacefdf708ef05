"""Configuration: every knob comes from an environment variable, read once into one typed Struct."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from argon2.profiles import RFC_9106_LOW_MEMORY

__all__ = ["Settings", "get_settings", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Empty means: start a private cluster under data_dir (make run) or in a temp dir (tests).
    database_url: str = ""
    data_dir: str = str(ROOT / ".data")
    # The private cluster's port; 0 picks a free one at each start.
    pg_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    # How long a bearer token from POST /auth/login works (tokens are random, stored hashed).
    token_ttl_hours: int = 12
    demo_password: str = "gridcase"
    load_demo: bool = True
    photo_store: Literal["local", "minio"] = "local"
    photo_dir: str = str(ROOT / ".data" / "photos")
    photo_max_bytes: int = 12 * 1024 * 1024
    minio_endpoint: str = ""
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_bucket: str = "gridcase-photos"
    minio_secure: bool = False
    minio_region: str = "us-east-1"
    # Submissions a civic app may make a minute with one api_key (Open311 POST requests).
    open311_requests_per_minute: int = 60
    # Citizens' pages: /track lookups (and ratings) a minute per client address and per ticket,
    # /report submissions a minute per client address.
    track_per_client_per_minute: int = 20
    track_per_ticket_per_minute: int = 10
    report_per_minute: int = 10
    # The alert worker inside the server process (`gridcase run`); off where another process runs it.
    alert_worker: bool = True
    alert_interval_seconds: float = 5.0
    alert_lease_seconds: float = 60.0
    alert_max_attempts: int = 6
    alert_retry_seconds: float = 30.0
    sync_max_batch: int = 100
    sync_max_pull: int = 500
    sync_max_body_bytes: int = 1024 * 1024
    # Signs pull cursors; empty: a secret generated into <data_dir>/cursor_secret on first use.
    cursor_secret: str = ""
    # Geocoding at intake (geo.addresses.ranking.clear_best): the best entry is taken only with at
    # least this score and this margin over any rival farther than geocode_agree_m from it.
    geocode_min_score: float = 0.75
    geocode_min_margin: float = 0.1
    geocode_agree_m: float = 150.0
    # A point with no typed address takes the nearest register entry's within this distance.
    reverse_geocode_max_m: float = 100.0
    # Argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile). Tests choose
    # cheap ones; a stored hash of other parameters is rehashed at the user's next log-in.
    argon2_time_cost: int = RFC_9106_LOW_MEMORY.time_cost
    argon2_memory_kib: int = RFC_9106_LOW_MEMORY.memory_cost
    argon2_parallelism: int = RFC_9106_LOW_MEMORY.parallelism
    # Log-in throttling, per username and per client address: after this many failures in a row,
    # each further attempt waits lock_seconds, doubling per failure up to lock_max_seconds.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 30
    login_lock_seconds: int = 30
    login_lock_max_seconds: int = 15 * 60
    # The map console's base map: an XYZ tile URL ({z}/{x}/{y}); empty shows grids and cases on a
    # plain background, so the page loads nothing from outside.
    map_tile_url: str = ""
    # Units with fewer closed cases in the month are listed apart from the ranking (DESIGN §8).
    ranking_min_closed: Annotated[int, msgspec.Meta(ge=1)] = 5


_ENV = {
    "database_url": "DATABASE_URL",
    "data_dir": "GRIDCASE_DATA_DIR",
    "pg_port": "GRIDCASE_PG_PORT",
    "host": "GRIDCASE_HOST",
    "port": "GRIDCASE_PORT",
    "token_ttl_hours": "GRIDCASE_TOKEN_TTL_HOURS",
    "demo_password": "DEMO_PASSWORD",
    "load_demo": "GRIDCASE_LOAD_DEMO",
    "photo_store": "GRIDCASE_PHOTO_STORE",
    "photo_dir": "GRIDCASE_PHOTO_DIR",
    "photo_max_bytes": "GRIDCASE_PHOTO_MAX_BYTES",
    "minio_endpoint": "MINIO_ENDPOINT",
    "minio_access_key": "MINIO_ACCESS_KEY",
    "minio_secret_key": "MINIO_SECRET_KEY",
    "minio_bucket": "MINIO_BUCKET",
    "minio_secure": "MINIO_SECURE",
    "minio_region": "MINIO_REGION",
    "open311_requests_per_minute": "GRIDCASE_OPEN311_REQUESTS_PER_MINUTE",
    "track_per_client_per_minute": "GRIDCASE_TRACK_PER_CLIENT_PER_MINUTE",
    "track_per_ticket_per_minute": "GRIDCASE_TRACK_PER_TICKET_PER_MINUTE",
    "report_per_minute": "GRIDCASE_REPORT_PER_MINUTE",
    "alert_worker": "GRIDCASE_ALERT_WORKER",
    "alert_interval_seconds": "GRIDCASE_ALERT_INTERVAL_SECONDS",
    "alert_lease_seconds": "GRIDCASE_ALERT_LEASE_SECONDS",
    "alert_max_attempts": "GRIDCASE_ALERT_MAX_ATTEMPTS",
    "alert_retry_seconds": "GRIDCASE_ALERT_RETRY_SECONDS",
    "sync_max_batch": "GRIDCASE_SYNC_MAX_BATCH",
    "sync_max_pull": "GRIDCASE_SYNC_MAX_PULL",
    "sync_max_body_bytes": "GRIDCASE_SYNC_MAX_BODY_BYTES",
    "cursor_secret": "GRIDCASE_CURSOR_SECRET",
    "geocode_min_score": "GRIDCASE_GEOCODE_MIN_SCORE",
    "geocode_min_margin": "GRIDCASE_GEOCODE_MIN_MARGIN",
    "geocode_agree_m": "GRIDCASE_GEOCODE_AGREE_M",
    "reverse_geocode_max_m": "GRIDCASE_REVERSE_GEOCODE_MAX_M",
    "argon2_time_cost": "GRIDCASE_ARGON2_TIME_COST",
    "argon2_memory_kib": "GRIDCASE_ARGON2_MEMORY_KIB",
    "argon2_parallelism": "GRIDCASE_ARGON2_PARALLELISM",
    "login_max_failures": "GRIDCASE_LOGIN_MAX_FAILURES",
    "login_max_failures_per_address": "GRIDCASE_LOGIN_MAX_FAILURES_PER_ADDRESS",
    "login_lock_seconds": "GRIDCASE_LOGIN_LOCK_SECONDS",
    "login_lock_max_seconds": "GRIDCASE_LOGIN_LOCK_MAX_SECONDS",
    "map_tile_url": "GRIDCASE_MAP_TILE_URL",
    "ranking_min_closed": "GRIDCASE_RANKING_MIN_CLOSED",
}


def settings_from(env: dict[str, str]) -> Settings:
    """Build settings from an environment mapping; msgspec converts and validates the types."""
    raw: dict[str, object] = {}
    for field, var in _ENV.items():
        if var in env:
            raw[field] = env[var]
    return msgspec.convert(raw, Settings, strict=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from(dict(os.environ))
