"""TyreHero settings: one typed object read from the environment."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "dev-only-secret-change-me"


def sqlalchemy_url(v: str | None) -> str | None:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// alike; empty -> None."""
    if not v:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if v.startswith(prefix):
            return "postgresql+psycopg://" + v[len(prefix) :]
    return v


class Settings(BaseSettings):
    """Everything configurable, with defaults that run on a laptop."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Unset -> an embedded PostgreSQL / Redis under data_dir is started.
    database_url: str | None = None
    # Optional streaming replica for read-heavy views (map layers, figures); writes stay on the primary.
    database_replica_url: str | None = None
    redis_url: str | None = None
    # Optional Redis Cluster for the technician index (keys sharded by H3 neighbourhood);
    # unset -> the index lives in redis_url like everything else.
    redis_cluster_url: str | None = None
    data_dir: Path = Path("data")
    redis_key_prefix: str = "th:"  # one Redis can serve several deployments side by side

    secret_key: str = _DEV_SECRET
    phone_key: str = _DEV_SECRET

    h3_resolution: int = Field(7, ge=5, le=9)
    h3_coarse_resolution: int = Field(4, ge=2, le=6)
    sla_minutes: int = Field(90, gt=0)
    position_max_age_s: int = Field(120, gt=0)
    duplicate_window_s: int = Field(300, ge=0)
    # Bounding box checked before the finer GB/NI land test in core.places.
    service_area_south: float = 49.8
    service_area_north: float = 61.0
    service_area_west: float = -8.7
    service_area_east: float = 1.9

    dispatch_sweep_s: float = Field(10.0, gt=0)
    # A freed technician wakes the process's sweeper, which waits this long so that one sweep serves
    # every van freed meanwhile (apps with a sweeper; without one the release sweeps at once).
    dispatch_coalesce_s: float = Field(0.3, ge=0)
    offer_timeout_s: int = Field(120, gt=0)  # no answer from the technician -> declined, next one
    dispatch_candidates: int = Field(5, ge=1, le=50)
    # "batch": when 2+ requests wait, assign them all at once (core.batch); "greedy": one by one, oldest first.
    # Batch is the default: 70.5% vs 41.1% of calls on site within the SLA in the simulated storm (docs/PERFORMANCE.md).
    dispatch_policy: Literal["batch", "greedy"] = "batch"
    demo_mode: bool = True  # the fleet simulator moves vans
    seed_demo_data: bool = True  # an empty database gets the demo fleet and logins
    demo_fleet_size: int = Field(300, ge=0)
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    support_phone: str = "0800 123 4567"
    rate_limits_enabled: bool = True
    # Location pings older than this many whole months are dropped (core.partitions).
    ping_retention_months: int = Field(6, ge=1)
    # New requests per client address per 10 minutes, and per phone number per hour.
    rate_limit_requests_per_ip: int = Field(30, ge=1)
    rate_limit_requests_per_phone: int = Field(6, ge=1)
    # Tracking reads (page map polls every 2 s) per client address per minute.
    rate_limit_tracking_per_ip: int = Field(120, ge=1)
    retention_days: int = Field(30, ge=1)  # closed requests are anonymised after this
    slow_query_ms: int = Field(100, ge=1)
    # Per app process: PostgreSQL connections kept open, and threads running the API's blocking
    # endpoints. Threads beyond the pool would wait for a connection, or open and close extra ones.
    db_pool_size: int = Field(20, ge=1, le=200)
    api_threads: int = Field(6, ge=1, le=400)
    # Seconds a process may answer "who is this session" from memory (0: ask PostgreSQL every call).
    # Revocations reach every listening process at once; this bounds a process that missed one.
    auth_cache_s: float = Field(30.0, ge=0, le=300)
    log_json: bool = True

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _sqlalchemy_url(cls, v: str | None) -> str | None:
        return sqlalchemy_url(v)

    @field_validator("redis_url")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("secret_key", "phone_key"):
                value = getattr(self, name)
                if value == _DEV_SECRET or len(value) < 32:
                    raise ValueError(f"{name.upper()} must be set to a random value of 32+ characters in production")
        return self

    @property
    def data_path(self) -> Path:
        return self.data_dir.resolve()


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
