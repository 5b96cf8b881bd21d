"""`Core`: the adapters a service function needs, passed explicitly. Built by `core.bootstrap`.

It names the adapters' types, so it sits just above them (infra, geo, index) and below the services
that take it (requests, dispatch, technicians, staff, privacy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
import sqlalchemy as sa

from core.config import Settings
from core.geo.eta import EtaModel
from core.geo.geocode import Geocoder
from core.index.cluster_index import RedisClusterTechnicianIndex
from core.index.failover import FailoverTechnicianIndex
from core.infra.events import DomainEvent, EventBus
from core.infra.listener import EventListener
from core.infra.ratelimit import RateLimiter
from core.phones import PhoneVault
from core.principal import SESSIONS_REVOKED, PrincipalCache


@dataclass
class Core:
    """Everything a service function needs, passed explicitly."""

    settings: Settings
    engine: sa.Engine
    read_engine: sa.Engine  # a replica for read-heavy views when configured, else the primary
    redis: redis.Redis
    index: FailoverTechnicianIndex
    bus: EventBus
    vault: PhoneVault
    geocoder: Geocoder
    eta: EtaModel
    limiter: RateLimiter
    principals: PrincipalCache
    _listener: EventListener | None = None
    # Set by a process that runs a sweeper loop: asks it for a sweep soon instead of sweeping in the caller.
    sweep_soon: Callable[[], None] | None = None

    def listener(self) -> EventListener:
        """This process's listener of domain events from every process (started on first use)."""
        if self._listener is None:
            channel = getattr(self.bus, "channel", "tyrehero:events")
            listener = EventListener(self.redis, channel)
            listen_for_revocations(self.principals, listener)
            self._listener = listener.start()
        return self._listener

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if isinstance(self.index.primary, RedisClusterTechnicianIndex):
            self.index.primary.close()
        self.redis.close()


def listen_for_revocations(cache: PrincipalCache, listener: EventListener) -> None:
    """Wire a process's PrincipalCache to the revocation events, and to the listener's (re)subscribing."""

    def on_event(e: DomainEvent) -> None:
        uid, h = e.data.get("user_id"), e.data.get("token_hash")
        cache.evict(token_hash=h, user_id=uid if h is None else None)

    listener.on(SESSIONS_REVOKED, on_event)
    listener.on_subscribe(cache.evict)
