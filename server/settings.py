"""Configuration: every knob comes from an environment variable, read once into one typed Struct."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    photo_store: Literal["local", "minio"] = "local"
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
    sync_max_batch: int = 100
    sync_max_pull: int = 500
    sync_max_body_bytes: int = 1024 * 1024
    timezone: str = "Asia/Shanghai"
    # Geocoding at intake (geo.addresses.ranking.clear_best): the best entry is taken only with at
    # least this score and this margin over any rival farther than geocode_agree_m from it.
    geocode_min_score: float = 0.75
    geocode_min_margin: float = 0.1
    geocode_agree_m: float = 150.0
    # A point with no typed address takes the nearest register entry's within this distance.
    reverse_geocode_max_m: float = 100.0


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
    "sync_max_batch": "GRIDCASE_SYNC_MAX_BATCH",
    "sync_max_pull": "GRIDCASE_SYNC_MAX_PULL",
    "sync_max_body_bytes": "GRIDCASE_SYNC_MAX_BODY_BYTES",
    "timezone": "GRIDCASE_TIMEZONE",
    "geocode_min_score": "GRIDCASE_GEOCODE_MIN_SCORE",
    "geocode_min_margin": "GRIDCASE_GEOCODE_MIN_MARGIN",
    "geocode_agree_m": "GRIDCASE_GEOCODE_AGREE_M",
    "reverse_geocode_max_m": "GRIDCASE_REVERSE_GEOCODE_MAX_M",
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
