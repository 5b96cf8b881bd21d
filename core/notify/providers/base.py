"""What every SMS provider adapter offers the relay: send one text, and find one sent before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutgoingText:
    key: str  # our idempotency key for this message (the same on every attempt)
    to: str  # E.164
    body: str
    status_callback: str | None = None  # where the provider reports delivery (signed), when it does


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str  # a core.notify.outbox.MessageStatus the provider reported: queued, sent or delivered


class SendFailed(Exception):
    """The provider did not take the text.

    `permanent`: trying again cannot help (a number it refuses, our account's fault); the message is dead.
    `in_doubt`: the provider may have taken it (timeout, connection lost, a 5xx): before the next attempt
    the relay asks the provider whether it did (`find`)."""

    def __init__(self, reason: str, *, permanent: bool = False, in_doubt: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:300]
        self.permanent = permanent
        self.in_doubt = in_doubt


class SmsProvider(Protocol):
    name: str

    def send(self, text: OutgoingText) -> SendResult:
        """Send `text`, or raise SendFailed."""
        ...

    def find(self, text: OutgoingText, since: datetime, matches: Callable[[str], bool]) -> SendResult | None:
        """A text the provider took for `text.key` since `since` (an attempt whose outcome we lost), else None.

        `matches(body)` tells whether a body the provider holds is the one that attempt sent (bodies are
        compared by a keyed digest the outbox kept, so no text is stored in clear). Raise SendFailed when
        the provider cannot be asked now."""
        ...
