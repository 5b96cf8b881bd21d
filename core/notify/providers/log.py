"""The `log` provider: texts go to the log (and to the admin page's Messages list), nowhere else, with
the links' tokens masked.

The default for `make run`, so a newcomer sees every text without a provider account. Production refuses
it (core.config). Idempotent by key within the process: a key sent before answers with its first result."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from core.notify.providers.base import OutgoingText, SendResult
from core.notify.templates import masked

log = structlog.get_logger("tyrehero.notify")


class LogProvider:
    name = "log"

    def __init__(self) -> None:
        self._sent: dict[str, SendResult] = {}
        self._lock = threading.Lock()

    def send(self, text: OutgoingText) -> SendResult:
        with self._lock:
            if text.key in self._sent:
                return self._sent[text.key]
            result = SendResult(f"log-{uuid.uuid4().hex[:16]}", "delivered")
            self._sent[text.key] = result
        # The number's last three digits and the links' tokens masked: the log is not a second copy of
        # customers' numbers, and a token in a log would let its readers follow or cancel the request.
        log.info("text message", to=f"...{text.to[-3:]}", body=masked(text.body), key=text.key, id=result.provider_id)
        return result

    def find(self, text: OutgoingText, since: datetime, matches: Callable[[str], bool]) -> SendResult | None:
        with self._lock:
            return self._sent.get(text.key)
