"""Configuration: every knob comes from an environment variable, read once into one typed Struct."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import msgspec

__all__ = ["Settings", "get_settings", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Empty means: start a private cluster under data_dir (make run) or in a temp dir (tests).
    database_url: str = ""
    data_dir: str = str(ROOT / ".data")
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs nothing: tokens are random and stored hashed; kept for future signed URLs.
    token_ttl_hours: int = 12
    demo_password: str = "gridcase"
    load_demo: bool = True
    photo_store: str = "local"
    photo_dir: str = str(ROOT / ".data" / "photos")
    photo_max_bytes: int = 12 * 1024 * 1024
    minio_endpoint: str = ""
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_bucket: str = "gridcase-photos"
    minio_secure: bool = False
    minio_region: str = "us-east-1"
    # apprise URLs; empty means messages wait in the outbox the console shows.
    alert_urls: tuple[str, ...] = ()
    # The alert worker inside the server process (`gridcase run`); off where another process runs it.
    alert_worker: bool = True
    alert_interval_seconds: float = 5.0
    alert_lease_seconds: float = 60.0
    alert_max_attempts: int = 6
    alert_retry_seconds: float = 30.0
    sync_max_batch: int = 100
    sync_max_pull: int = 500
    sync_max_body_bytes: int = 1024 * 1024
    timezone: str = "Asia/Shanghai"


_ENV = {
    "database_url": "DATABASE_URL",
    "data_dir": "GRIDCASE_DATA_DIR",
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
    "alert_urls": "GRIDCASE_ALERT_URLS",
    "alert_worker": "GRIDCASE_ALERT_WORKER",
    "alert_interval_seconds": "GRIDCASE_ALERT_INTERVAL_SECONDS",
    "alert_lease_seconds": "GRIDCASE_ALERT_LEASE_SECONDS",
    "alert_max_attempts": "GRIDCASE_ALERT_MAX_ATTEMPTS",
    "alert_retry_seconds": "GRIDCASE_ALERT_RETRY_SECONDS",
    "sync_max_batch": "GRIDCASE_SYNC_MAX_BATCH",
    "sync_max_pull": "GRIDCASE_SYNC_MAX_PULL",
    "sync_max_body_bytes": "GRIDCASE_SYNC_MAX_BODY_BYTES",
    "timezone": "GRIDCASE_TIMEZONE",
}


def settings_from(env: dict[str, str]) -> Settings:
    """Build settings from an environment mapping; msgspec converts and validates the types."""
    raw: dict[str, object] = {}
    for field, var in _ENV.items():
        if var in env:
            value = env[var]
            raw[field] = [u for u in value.split() if u] if field == "alert_urls" else value
    return msgspec.convert(raw, Settings, strict=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from(dict(os.environ))
