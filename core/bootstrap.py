"""The one wiring point: real adapters built from settings."""

from __future__ import annotations

from collections.abc import Iterator

import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from sqlmodel import Session, col, select

from core.config import Settings, get_settings
from core.context import Core
from core.geo.eta import StraightLineEta
from core.geo.geocode import CachedGeocoder, FallbackGeocoder, Geocoder, OfflineGeocoder, PostcodesIoGeocoder
from core.index.base import IndexedTech
from core.index.cluster_index import RedisClusterTechnicianIndex
from core.index.failover import FailoverTechnicianIndex
from core.index.pg_index import PostgresTechnicianIndex
from core.index.redis_index import RedisTechnicianIndex
from core.infra import db, embedded, timing
from core.infra.events import RedisEventBus
from core.infra.ratelimit import RateLimiter
from core.models import Technician
from core.phones import PhoneVault
from core.principal import PrincipalCache
from core.states import TechStatus


def indexed_technicians(engine: sa.Engine) -> Iterator[IndexedTech]:
    """On-shift technicians with a position, as the index holds them."""
    with Session(engine) as s:
        rows = s.exec(
            select(Technician).where(
                Technician.active, Technician.status != TechStatus.OFFLINE, col(Technician.lat).is_not(None))
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
    key_prefix: str | None = None,
    geocoder: Geocoder | None = None,
    pool_size: int | None = None,
) -> Core:
    """Build the core from settings; URLs given here win over the settings (tests, tools)."""
    settings = settings or get_settings()
    key_prefix = key_prefix or settings.redis_key_prefix
    db_url, r_url = embedded.ensure_urls(
        database_url or settings.database_url, redis_url or settings.redis_url, settings.data_path
    )
    engine = db.make_engine(db_url, pool_size=pool_size or settings.db_pool_size, options=db.timeout_options(settings),
                            prepared=not db.behind_transaction_pooler(settings))
    db.check_timeouts(engine, settings)
    db.log_slow_queries(engine, settings.slow_query_ms)
    # One quick retry: a dead Redis must cost milliseconds, not redis-py's default back-off.
    timeouts = {"socket_timeout": settings.redis_socket_timeout_s,
                "socket_connect_timeout": settings.redis_connect_timeout_s}
    client = redis.Redis.from_url(r_url, **timeouts, health_check_interval=10, retry=Retry(NoBackoff(), 1))
    timing.time_redis(client)  # its replies' waits go into the slow-request log
    eta = StraightLineEta()  # one model: the services' ETAs and the indexes' ranking
    primary: RedisTechnicianIndex | RedisClusterTechnicianIndex
    if settings.redis_cluster_url:
        # The index on Redis Cluster; events, rate limits and caches stay on the single-node REDIS_URL.
        cluster_url = settings.redis_cluster_url

        def make_cluster() -> RedisCluster:
            return RedisCluster.from_url(cluster_url, **timeouts, health_check_interval=10, retry=Retry(NoBackoff(), 1))

        primary = RedisClusterTechnicianIndex(make_cluster, f"{key_prefix}ix:", settings.h3_resolution,
                                              settings.h3_coarse_resolution, eta=eta)
    else:
        # Its own namespace: a rebuild clears the index keys and nothing else (rate limits, caches).
        primary = RedisTechnicianIndex(client, f"{key_prefix}ix:", settings.h3_resolution,
                                       settings.h3_coarse_resolution, eta=eta)
    fallback = PostgresTechnicianIndex(engine, settings.h3_resolution, settings.h3_coarse_resolution, eta=eta)
    index = FailoverTechnicianIndex(primary, fallback, lambda: indexed_technicians(engine))
    if geocoder is None:
        postcodes_io = PostcodesIoGeocoder(settings.geocoder_url, timeout=settings.geocoder_timeout_s)
        geocoder = CachedGeocoder(FallbackGeocoder(postcodes_io, OfflineGeocoder()), client, prefix=f"{key_prefix}geo:")
    return Core(
        settings=settings,
        engine=engine,
        read_engine=db.make_read_engine(settings) or engine,
        redis=client,
        index=index,
        bus=RedisEventBus(client, channel=f"{key_prefix}events"),
        vault=PhoneVault(settings.phone_key),
        geocoder=geocoder,
        eta=eta,
        limiter=RateLimiter(client, prefix=f"{key_prefix}rl:", enabled=settings.rate_limits_enabled),
        principals=PrincipalCache(settings.auth_cache_s),
    )
