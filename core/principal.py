"""Who is calling (`Principal`, `Role`), and each process's cache of who is behind which session token.

Every domain service takes a Principal and checks the role itself, so this sits at the bottom layer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import Forbidden
from core.models import utcnow


class Role(StrEnum):
    """Who may do what. SYSTEM is the process itself (sweeper, simulator, retention): never an account's role."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"
    SYSTEM = "system"


# The roles an account can have.
ROLES = (Role.ADMIN, Role.DISPATCHER, Role.TECHNICIAN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role and, for technicians, their technician id.

    Core services take it as their second argument and check the role themselves, so a page or a
    route that forgets its own check still cannot act. `user_id` is None only for the system."""

    user_id: int | None
    username: str
    name: str
    role: str
    technician_id: int | None

    @classmethod
    def system(cls, name: str) -> Principal:
        """The process acting on its own account (sweeper, demo simulator, retention); `name` shows in timelines."""
        return cls(None, Role.SYSTEM.value, name, Role.SYSTEM, None)

    def actor_columns(self) -> dict[str, Any]:
        """The columns of a timeline entry or audit row that say who acted: name, account id, role."""
        return {"actor": self.name[:100], "actor_id": self.user_id, "actor_role": str(self.role)}

    @property
    def account_id(self) -> int:
        """The account's id, for what only an account can do (its own two-factor set-up); the system has none."""
        if self.user_id is None:
            raise Forbidden("Only a signed-in account can do this.")
        return self.user_id

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise Forbidden("Your account cannot do this.")
        return self


# Published when sessions end early (logout, password reset, account deactivated): every process
# evicts them from its PrincipalCache.
SESSIONS_REVOKED = "sessions_revoked"


class PrincipalCache:
    """Who is behind a session token, remembered per process for at most `ttl_s`.

    Every staff call names its session, and each technician's phone calls every 10 s, so the
    session lookup would be one statement in three under load. An entry never outlives its
    session; a revocation evicts at once in the revoking process and, through the
    `sessions_revoked` event, in every process that listens; a listener that (re)subscribes
    clears the cache, as it may have missed one. So a revoked session stops working at once, and
    within `ttl_s` even in a process that cannot hear events (Redis away). Unknown or revoked tokens
    are never cached. `ttl_s` 0 turns the cache off.
    """

    def __init__(self, ttl_s: float, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock  # monotonic seconds; tests pass their own to move past the TTL without sleeping
        self._entries: dict[str, tuple[Principal, float]] = {}  # token hash -> (who, monotonic deadline)
        self.generation = 0  # moves on at every eviction
        self._lock = threading.Lock()

    def entry_count(self) -> int:
        """How many sessions are held (expired ones until looked up or pruned). Not __len__: an empty cache
        must not read as false where `if cache:` means "caching is on"."""
        return len(self._entries)

    def get(self, token_hash: str) -> Principal | None:
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        if hit[1] <= self.clock():
            self._entries.pop(token_hash, None)
            return None
        return hit[0]

    def put(self, token_hash: str, who: Principal, expires_at: datetime, generation: int) -> None:
        """Remember `who`, read from the database when the cache was at `generation` (a revocation since: not kept)."""
        self.put_many([(token_hash, who, expires_at)], generation)

    def put_many(self, entries: list[tuple[str, Principal, datetime]], generation: int) -> int:
        """Remember (token hash, who, session expiry) entries read when the cache was at `generation`
        (a revocation since: none kept); returns how many were kept."""
        if self.ttl_s <= 0:
            return 0
        now = utcnow()
        with self._lock:
            if generation != self.generation:
                return 0
            kept = entries[: self.max_entries]
            if len(self._entries) + len(kept) > self.max_entries:
                mono = self.clock()
                self._entries = {k: v for k, v in self._entries.items() if v[1] > mono}
                if len(self._entries) + len(kept) > self.max_entries:
                    self._entries.clear()
            mono = self.clock()
            for token_hash, who, expires_at in kept:
                self._entries[token_hash] = (who, mono + min(self.ttl_s, (expires_at - now).total_seconds()))
        return len(kept)

    def evict(self, token_hash: str | None = None, user_id: int | None = None) -> None:
        """Forget one token, every token of one account, or (neither given) everything."""
        with self._lock:
            self.generation += 1
            if token_hash is None and user_id is None:
                self._entries.clear()
            elif token_hash is not None:
                self._entries.pop(token_hash, None)
            else:
                self._entries = {k: v for k, v in self._entries.items() if v[0].user_id != user_id}
