"""Hears domain events from every process over Redis pub/sub and keeps the recent ones."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import redis
import structlog

from core.infra.events import DomainEvent

log = structlog.get_logger("tyrehero.events")


class EventListener:
    """A background thread per process; reconnects by itself when Redis comes back."""

    def __init__(self, client: redis.Redis, channel: str, keep: int = 500) -> None:
        self.client = client
        self.channel = channel
        # Raw messages: every process hears every event (hundreds a second under load), and only the
        # few that a reader asks for are parsed, in `since`.
        self.recent: collections.deque[bytes | str] = collections.deque(maxlen=keep)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Called with the event, for kinds some part of the process acts on (e.g. evicting revoked sessions).
        self._handlers: dict[bytes, list[Callable[[DomainEvent], None]]] = {}
        # Called each time the subscription is (re)made: whatever was published meanwhile went unheard.
        self._on_subscribe: list[Callable[[], None]] = []

    def on(self, kind: str, handler: Callable[[DomainEvent], None]) -> None:
        """Call `handler` with every event of `kind` heard from now on (in the listener's thread)."""
        self._handlers.setdefault(b'{"kind": ' + f'"{kind}"'.encode(), []).append(handler)

    def on_subscribe(self, fn: Callable[[], None]) -> None:
        """Call `fn` each time the listener (re)subscribes: events published while it was away are lost."""
        self._on_subscribe.append(fn)

    def start(self) -> EventListener:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-listener", daemon=True)
            self._thread.start()
        return self

    def stop(self, wait_s: float = 2.0) -> None:
        """Stop and wait for the thread, so it is not reading while the client closes."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(wait_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub(  # type: ignore[no-untyped-call]  # redis-py: unannotated
                    ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._subscribed()
                if pubsub.connection is not None:  # redis-py reconnects and resubscribes by itself: hear that too
                    pubsub.connection.register_connect_callback(self._reconnected)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg and msg["type"] == "message":
                        self.recent.append(msg["data"])
                        if self._handlers:
                            self._dispatch(msg["data"])
            except (redis.RedisError, OSError, ValueError):
                # Redis away (or its connection closed under us at shutdown): try again shortly.
                if not self._stop.wait(1.0):
                    continue
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (redis.RedisError, OSError, ValueError):
                        pass

    def _subscribed(self) -> None:
        for fn in list(self._on_subscribe):
            try:
                fn()
            except Exception:
                log.exception("subscribe hook failed")

    def _reconnected(self, _connection: object) -> None:
        self._subscribed()

    def _dispatch(self, raw: bytes | str) -> None:
        """Only events of a kind someone handles are parsed: to_json writes the kind first."""
        data = raw.encode() if isinstance(raw, str) else raw
        for prefix, handlers in list(self._handlers.items()):
            if data.startswith(prefix):
                try:
                    event = DomainEvent.from_json(data)
                except (ValueError, TypeError):
                    log.warning("unreadable event ignored")
                    return
                for fn in list(handlers):
                    try:
                        fn(event)
                    except Exception:  # one handler's fault must not stop the listener
                        log.exception("event handler failed", kind=event.kind)
                return

    def since(self, after_iso: str | None = None) -> list[DomainEvent]:
        events = []
        for raw in list(self.recent):
            try:
                e = DomainEvent.from_json(raw)
            except (ValueError, TypeError):
                log.warning("unreadable event ignored")
                continue
            if after_iso is None or e.at > after_iso:
                events.append(e)
        return events
