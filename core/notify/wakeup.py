"""Wakes the relay when the outbox trigger's NOTIFY arrives (on commit of a change that has a message).
Polling every NOTIFY_POLL_S stays the fallback: a notification missed while reconnecting costs that long."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
import structlog

from core.notify.outbox import OUTBOX_CHANNEL

log = structlog.get_logger("tyrehero.notify")


class OutboxWakeup:
    """A thread with its own connection, LISTENing on the outbox channel; calls `wake()` per notification."""

    def __init__(self, engine: sa.Engine, wake: Callable[[], None]) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxWakeup:
        self._thread = threading.Thread(target=self._run, name="outbox-wakeup", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self.wake()  # whatever was written while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except psycopg.Error:
                if self._stop.is_set():
                    return
                log.warning("outbox listener lost its connection; reconnecting")
                self._stop.wait(1.0)
