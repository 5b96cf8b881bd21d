"""Domain errors: each carries a message a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of errors the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Bad input; `errors` maps a field name to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(DomainError):
    pass


class IllegalTransition(DomainError):
    pass


class Conflict(DomainError):
    pass


class Unavailable(DomainError):
    """A dependency the operation needs is down or did not answer in time; `service` names it for operators
    and clients ("database", "redis", "geocoder"), the message says what to do."""

    def __init__(self, message: str, service: str = "") -> None:
        super().__init__(message)
        self.service = service


class AlreadyOpen(Conflict):
    """A request from this phone is already open and the caller is not the client that made it.

    Its message names nothing of that request: whoever types a number must not learn its tracking link.
    `request_id` (the open request) is for the core, which texts its link to that number; never shown.
    """

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class LinkExpired(NotFound):
    """A tracking link past its lifetime: answered as an unknown link (404), in words that say why."""


class Forbidden(DomainError):
    """The calling principal's role may not do this."""
