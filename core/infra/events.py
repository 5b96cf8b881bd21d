"""Domain events: written to the request timeline in PostgreSQL and published on Redis pub/sub."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from core.infra.breaker import Breaker

log = logging.getLogger(__name__)

CHANNEL = "tyrehero:events"
# Position reports arrive hundreds a second: they go to a channel of their own (CHANNEL + this), for
# a consumer that wants live positions, so the request and status events on the main channel, which
# every process hears and the consoles follow, are not drowned by them.
HIGH_RATE = {"technician_moved": ":positions"}


@dataclass(frozen=True)
class DomainEvent:
    """`kind` is past tense: request_created, technician_assigned, status_changed, ..."""

    kind: str
    request_id: int | None = None
    technician_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        # The fields by hand rather than asdict(), which deep-copies `data` on every one of the
        # hundreds of events a second (a position report publishes one). Same keys, same order.
        return json.dumps({"kind": self.kind, "request_id": self.request_id, "technician_id": self.technician_id,
                           "data": self.data, "at": self.at}, default=str)

    @staticmethod
    def from_json(raw: str | bytes) -> DomainEvent:
        return DomainEvent(**json.loads(raw))


class EventBus(Protocol):
    def publish(self, event: DomainEvent, *more: DomainEvent) -> None: ...


class RedisEventBus:
    """Best effort: the timeline in PostgreSQL is the record, pub/sub only wakes listeners."""

    def __init__(self, client: redis.Redis, channel: str = CHANNEL, breaker: Breaker | None = None) -> None:
        self.client = client
        self.channel = channel
        self.breaker = breaker or Breaker()  # Redis failed: events are dropped for a while, pages still poll

    def publish(self, event: DomainEvent, *more: DomainEvent) -> None:
        """One event, or several in order in one round trip."""
        if not self.breaker.closed:
            return
        try:
            if not more:
                self.client.publish(self._channel(event), event.to_json())
                return
            pipe = self.client.pipeline(transaction=False)
            for e in (event, *more):
                pipe.publish(self._channel(e), e.to_json())
            pipe.execute()
        except redis.RedisError as e:
            log.warning("events not published for %.0f s (%s): %s", self.breaker.retry_s, e.__class__.__name__,
                        event.kind)
            self.breaker.trip()

    def _channel(self, event: DomainEvent) -> str:
        return self.channel + HIGH_RATE.get(event.kind, "")


class MemoryEventBus:
    """Collects events in-process: for tests of the core that do not listen over Redis."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.listeners: list[Callable[[DomainEvent], None]] = []

    def publish(self, event: DomainEvent, *more: DomainEvent) -> None:
        for e in (event, *more):
            self.events.append(e)
            for fn in self.listeners:
                fn(e)
