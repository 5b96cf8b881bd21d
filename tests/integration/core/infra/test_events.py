"""Domain events over Redis pub/sub: every process hears request and status events; position
reports go to their own channel so they do not drown them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from core.infra.events import CHANNEL, DomainEvent, RedisEventBus
from core.infra.listener import EventListener


@pytest.fixture
def wired(
    redis_client: redis.Redis, key_prefix: str
) -> Iterator[tuple[RedisEventBus, EventListener, redis.client.PubSub]]:
    """A bus, a process's listener subscribed to the main channel, and a subscriber to the positions channel."""
    channel = f"{key_prefix}{CHANNEL}"
    bus = RedisEventBus(redis_client, channel)
    listener = EventListener(redis_client, channel).start()
    positions = redis_client.pubsub(ignore_subscribe_messages=True)
    positions.subscribe(f"{channel}:positions")
    try:
        deadline = time.time() + 5
        while redis_client.pubsub_numsub(channel)[0][1] < 1 and time.time() < deadline:
            time.sleep(0.02)
        yield bus, listener, positions
    finally:
        positions.close()
        listener.stop()


def test_position_reports_go_to_their_own_channel(wired) -> None:  # type: ignore[no-untyped-def]
    bus, listener, positions = wired
    for i in range(300):
        bus.publish(DomainEvent("technician_moved", technician_id=i, data={"lat": 52.0, "lng": -1.0}))
    bus.publish(DomainEvent("technician_assigned", request_id=7, technician_id=3))
    deadline = time.time() + 5
    while not listener.since() and time.time() < deadline:
        time.sleep(0.02)
    heard = listener.since()
    assert [(e.kind, e.request_id) for e in heard] == [("technician_assigned", 7)]
    moves = []
    while len(moves) < 300 and time.time() < deadline:
        msg = positions.get_message(timeout=0.5)
        if msg:
            moves.append(DomainEvent.from_json(msg["data"]))
    assert [e.technician_id for e in moves] == list(range(300))


def test_several_events_in_one_call_arrive_in_order_on_their_channels(wired) -> None:  # type: ignore[no-untyped-def]
    bus, listener, positions = wired
    bus.publish(DomainEvent("request_created", request_id=1),
                DomainEvent("technician_moved", technician_id=4),
                DomainEvent("technician_assigned", request_id=1, technician_id=4))
    deadline = time.time() + 5
    while len(listener.since()) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert [e.kind for e in listener.since()] == ["request_created", "technician_assigned"]
    msg = None
    while msg is None and time.time() < deadline:
        msg = positions.get_message(timeout=0.5)
    assert msg is not None, "msg is missing"
    assert DomainEvent.from_json(msg["data"]).technician_id == 4, (
        "wanted DomainEvent.from_json(msg['data']).technician_id == 4"
    )
