"""Login throttling: growing delays per (username, address), per address, and a short floor per username.

Failing someone's username from your own address must not lock them out: the long delays belong to the
(username, address) pair and to the address as a whole; across all addresses a username only gets a
short floor between one address's attempts (at most `USERNAME.cap_s`), never a lockout. An address that
never failed for that username (the real user on their own network) is not slowed by it at all.

Every attempt is claimed *before* the password is checked, atomically (one Lua script in Redis, or under
one advisory lock in PostgreSQL when Redis is down), and counted as a failure unless it succeeds: so a
burst of parallel attempts cannot all slip past a check that none of them has yet failed, and N
concurrent failures are counted exactly N. A success clears its pair and refunds its own count; an
attempt that proved the password but still owes a second factor is refunded without clearing the pair
(otherwise the password would buy unlimited guesses at the code).

Logins never fail open: when Redis cannot be reached the same rules run on the `login_failure` table.
Every failure is also written there (the record personal-data retention covers), so a Redis outage
starts from the failures already known.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from sqlmodel import Session, col

from core.infra.db import session_scope
from core.infra.ratelimit import rate_key_for_address
from core.models import LoginFailure, table_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """After more than `free` failures, wait base_s, 2*base_s, 4*base_s ... (at most cap_s) after the last one.
    Counts are forgotten `forget_s` after the last failure."""

    free: int
    base_s: float
    cap_s: float
    forget_s: int

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.base_s * 2.0 ** min(failures - self.free - 1, 40), self.cap_s)


# One (username, address): 1 s, 2 s, 4 s ... 15 min after 11 failures; remembered for a day.
PAIR = Backoff(free=0, base_s=1, cap_s=900, forget_s=86_400)
# One address, all usernames: 20 failures free in a quarter of an hour, then the same growth.
ADDRESS = Backoff(free=20, base_s=1, cap_s=900, forget_s=900)
# One username, all addresses: a floor on each pair's wait once 30 failed in a quarter of an hour; 30 s at most.
USERNAME = Backoff(free=30, base_s=1, cap_s=30, forget_s=900)


def address_key(ip: str) -> str:
    """The unit an address is counted in (IPv6 by its /64), as every per-address limit counts it."""
    return rate_key_for_address(ip.split("%")[0])[:45]


class Throttled(Exception):
    """Raised by `claim`; core.staff.auth turns it into its own `Throttled` error."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Attempt:
    username: str
    address: str  # address_key of the client
    at: float
    row_id: int | None  # the provisional login_failure row (PostgreSQL fallback), else None


# KEYS: pair, address, username. ARGV: now_ms, then free, base_ms, cap_ms, forget_ms for pair, address, username.
# Returns 0 when the attempt is claimed (counted on all three), else the milliseconds left to wait.
_CLAIM = """
local now = tonumber(ARGV[1])
local function delay(n, i)
  local free, base, cap = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if n <= free then return 0 end
  local d = base * 2 ^ math.min(n - free - 1, 40)
  if d > cap then return cap end
  return d
end
local p = redis.call('HMGET', KEYS[1], 'n', 't')
local a = redis.call('HMGET', KEYS[2], 'n', 't')
local u = redis.call('HMGET', KEYS[3], 'n')
local pn, pt = tonumber(p[1]) or 0, tonumber(p[2]) or 0
local an, at = tonumber(a[1]) or 0, tonumber(a[2]) or 0
local un = tonumber(u[1]) or 0
local wait = 0
if pn > 0 then wait = math.max(wait, pt + math.max(delay(pn, 2), delay(un, 10)) - now) end
if an > 0 then wait = math.max(wait, at + delay(an, 6) - now) end
if wait > 0 then return math.ceil(wait) end
for i = 1, 3 do
  local before = redis.call('HGET', KEYS[i], 't') or '0'
  redis.call('HINCRBY', KEYS[i], 'n', 1)
  redis.call('HSET', KEYS[i], 't', ARGV[1], 'o', before)
  redis.call('PEXPIRE', KEYS[i], ARGV[1 + 4 * i])
end
return 0
"""

# KEYS: the counters to take one back from; the pair is deleted instead when ARGV[1] is '1'. ARGV[2]: the
# claim's now_ms: when no claim came since, the last-failure time goes back to what it was before it.
_RELEASE = """
local first = 1
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]); first = 2 end
for i = first, #KEYS do
  if redis.call('HINCRBY', KEYS[i], 'n', -1) <= 0 then
    redis.call('DEL', KEYS[i])
  elseif redis.call('HGET', KEYS[i], 't') == ARGV[2] then
    redis.call('HSET', KEYS[i], 't', redis.call('HGET', KEYS[i], 'o') or '0')
  end
end
return 0
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class LoginThrottle:
    """Claim an attempt before checking a password; report how it ended."""

    def __init__(self, client: redis.Redis, engine: sa.Engine, prefix: str) -> None:
        self.r = client
        self.engine = engine
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._release_script = client.register_script(_RELEASE)

    def _keys(self, username: str, address: str) -> list[str]:
        return [f"{self.prefix}p:{_digest(username + chr(0) + address)}", f"{self.prefix}a:{address}",
                f"{self.prefix}u:{_digest(username)}"]

    def claim(self, username: str, ip: str, at: float) -> Attempt:
        """Count this attempt as a failure until it ends otherwise; raise Throttled if it must wait."""
        address = address_key(ip)
        args: list[int] = [_ms(at)]
        for b in (PAIR, ADDRESS, USERNAME):
            args += [b.free, _ms(b.base_s), _ms(b.cap_s), _ms(b.forget_s)]
        try:
            wait_ms = int(self._claim(keys=self._keys(username, address), args=args))
        except redis.RedisError as e:
            log.warning("login throttle on PostgreSQL (%r)", e)
            return self._claim_in_postgres(username, address, at)
        if wait_ms > 0:
            raise Throttled(max(1, math.ceil(wait_ms / 1000)))
        return Attempt(username, address, at, None)

    def failed(self, attempt: Attempt) -> None:
        """The attempt failed: it stays counted, and is recorded (the fallback's counter already holds it)."""
        if attempt.row_id is None:
            with session_scope(self.engine) as s:
                s.add(LoginFailure(username=attempt.username, ip=attempt.address, at=_dt(attempt.at)))

    def succeeded(self, attempt: Attempt) -> None:
        """A full sign-in: the pair starts afresh; the address and the username get their count back."""
        self._release(attempt, clear_pair=True)
        with session_scope(self.engine) as s:
            s.execute(sa.delete(LoginFailure).where(col(LoginFailure.username) == attempt.username,
                                                    col(LoginFailure.ip) == attempt.address))

    def refund(self, attempt: Attempt) -> None:
        """Not a failure (the password was right and a second factor is still owed): take the count back."""
        self._release(attempt, clear_pair=False)
        if attempt.row_id is not None:
            with session_scope(self.engine) as s:
                s.execute(sa.delete(LoginFailure).where(col(LoginFailure.id) == attempt.row_id))

    def _release(self, attempt: Attempt, clear_pair: bool) -> None:
        if attempt.row_id is not None:
            return  # claimed in PostgreSQL: nothing was counted in Redis
        try:
            self._release_script(keys=self._keys(attempt.username, attempt.address),
                                 args=["1" if clear_pair else "0", _ms(attempt.at)])
        except redis.RedisError as e:
            log.warning("login throttle not released (%r)", e)

    def _claim_in_postgres(self, username: str, address: str, at: float) -> Attempt:
        """The same rules on login_failure rows, one address at a time (a transaction-scoped advisory lock)."""
        with session_scope(self.engine) as s:
            s.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("login_throttle:" + address))))
            wait = _wait(*self._counts_in_postgres(s, username, address, at), at)
            if wait > 0:
                raise Throttled(wait)
            lf = table_of(LoginFailure)
            row_id = s.execute(sa.insert(lf).values(username=username, ip=address, at=_dt(at))
                               .returning(lf.c.id)).scalar_one()
        return Attempt(username, address, at, row_id)

    @staticmethod
    def _counts_in_postgres(s: Session, username: str, address: str, at: float) -> tuple[int, float, int, float, int]:
        """Failures and the last failure's time for the pair and the address, and failures of the username."""
        lf = table_of(LoginFailure)
        now = _dt(at)

        def count_last(*where: sa.ColumnElement[bool], forget_s: int) -> tuple[int, float]:
            n, last = s.execute(sa.select(sa.func.count(), sa.func.max(lf.c.at)).where(
                *where, lf.c.at > now - timedelta(seconds=forget_s))).one()
            return int(n), last.timestamp() if last is not None else 0.0

        pn, pt = count_last(lf.c.username == username, lf.c.ip == address, forget_s=PAIR.forget_s)
        an, a_t = count_last(lf.c.ip == address, forget_s=ADDRESS.forget_s)
        un, _ = count_last(lf.c.username == username, forget_s=USERNAME.forget_s)
        return pn, pt, an, a_t, un


def _wait(pn: int, pt: float, an: int, a_t: float, un: int, at: float) -> int:
    """Whole seconds to wait, from the counts and last-failure times (seconds) of pair, address and username."""
    wait = 0.0
    if pn > 0:
        wait = max(wait, pt + max(PAIR.delay(pn), USERNAME.delay(un)) - at)
    if an > 0:
        wait = max(wait, a_t + ADDRESS.delay(an) - at)
    return math.ceil(wait) if wait > 0 else 0


def _dt(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
