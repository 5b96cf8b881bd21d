"""The one wiring point: real adapters built from settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlmodel import select

from core import db, embedded
from core.config import Settings, get_settings
from core.events import EventBus, RedisEventBus
from core.geo import EtaModel, StraightLineEta
from core.geocode import CachedGeocoder, FallbackGeocoder, Geocoder, OfflineGeocoder, PostcodesIoGeocoder
from core.index.base import IndexedTech
from core.index.failover import FailoverTechnicianIndex
from core.index.pg_index import PostgresTechnicianIndex
from core.index.redis_index import RedisTechnicianIndex
from core.models import Technician
from core.phones import PhoneVault
from core.ratelimit import RateLimiter


@dataclass
class Core:
    """Everything a service function needs, passed explicitly."""

    settings: Settings
    engine: sa.Engine
    redis: redis.Redis
    index: FailoverTechnicianIndex
    bus: EventBus
    vault: PhoneVault
    geocoder: Geocoder
    eta: EtaModel
    limiter: RateLimiter

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


def indexed_technicians(engine: sa.Engine) -> Iterator[IndexedTech]:
    """On-shift technicians with a position, as the index holds them."""
    with db.Session(engine) as s:
        rows = s.exec(
            select(Technician).where(Technician.active, Technician.status != "offline", Technician.lat.is_not(None))  # type: ignore[union-attr]
        ).all()
    for t in rows:
        yield tech_to_indexed(t)


def tech_to_indexed(t: Technician) -> IndexedTech:
    assert t.id is not None and t.lat is not None and t.lng is not None
    ts = t.position_at.timestamp() if t.position_at else 0.0
    return IndexedTech(t.id, t.lat, t.lng, t.status, frozenset(t.capabilities), ts)


def bootstrap(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    key_prefix: str = "th:",
    geocoder: Geocoder | None = None,
    pool_size: int = 10,
) -> Core:
    """Build the core from settings; URLs given here win over the settings (tests, tools)."""
    settings = settings or get_settings()
    db_url, r_url = embedded.ensure_urls(
        database_url or settings.database_url, redis_url or settings.redis_url, settings.data_path
    )
    engine = db.make_engine(db_url, pool_size=pool_size)
    db.log_slow_queries(engine, settings.slow_query_ms)
    # One quick retry: a dead Redis must cost milliseconds, not redis-py's default back-off.
    client = redis.Redis.from_url(
        r_url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=10,
        retry=Retry(NoBackoff(), 1),
    )
    # Its own namespace: a rebuild clears the index keys and nothing else (rate limits, caches).
    primary = RedisTechnicianIndex(client, f"{key_prefix}ix:", settings.h3_resolution, settings.h3_coarse_resolution)
    fallback = PostgresTechnicianIndex(engine, settings.h3_resolution, settings.h3_coarse_resolution)
    index = FailoverTechnicianIndex(primary, fallback, lambda: indexed_technicians(engine))
    if geocoder is None:
        geocoder = CachedGeocoder(FallbackGeocoder(PostcodesIoGeocoder(), OfflineGeocoder()), client)
    return Core(
        settings=settings,
        engine=engine,
        redis=client,
        index=index,
        bus=RedisEventBus(client, channel=f"{key_prefix}events"),
        vault=PhoneVault(settings.phone_key),
        geocoder=geocoder,
        eta=StraightLineEta(),
        limiter=RateLimiter(client, prefix=f"{key_prefix}rl:", enabled=settings.rate_limits_enabled),
    )
