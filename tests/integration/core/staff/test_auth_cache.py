"""Sessions answered from a process's memory: fast, and never honoured after a revocation is heard."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import OfflineGeocoder
from core.principal import PrincipalCache, Role
from core.staff.admin import reset_password, set_staff_active
from core.staff.auth import login, logout, principal_for
from core.tokens import token_hash
from tests.factories import add_principal, add_staff, add_technicians
from tests.support.clock import FakeClock


def _revoke_behind_its_back(core: Core, token: str) -> None:
    """End the session in PostgreSQL only, as a process that cannot publish would."""
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET revoked_at = now() WHERE token_hash = :h"), {"h": token_hash(token)})


def _eventually(check: Callable[[], bool], within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def other_process(core: Core, database_url: str, server_urls: tuple[str, str], key_prefix: str) -> Iterator[Core]:
    """A second core on the same database and Redis, listening: what another app process is."""
    other = bootstrap(Settings(rate_limits_enabled=False), database_url=database_url, redis_url=server_urls[1],
                      key_prefix=key_prefix, geocoder=OfflineGeocoder(), pool_size=5)
    channel = f"{key_prefix}events"
    before = other.redis.pubsub_numsub(channel)[0][1]
    other.listener()
    assert _eventually(lambda: other.redis.pubsub_numsub(channel)[0][1] > before), "the listener subscribed"
    yield other
    other.close()


def test_a_known_session_is_answered_from_memory_until_its_ttl(core: Core) -> None:
    tech = add_technicians(core, 1)[0]
    add_staff(core, "tina", "technician", tech_id=tech)
    token, _ = login(core, "tina", "correct horse battery", "127.0.0.1")
    clock = FakeClock()
    cache = PrincipalCache(ttl_s=0.3, clock=clock)
    who = principal_for(core.engine, token, cache)
    assert who is not None, "a live session is known"
    assert who.technician_id == tech, "the session's technician"
    assert who.role == "technician", "the session's role"
    _revoke_behind_its_back(core, token)
    assert principal_for(core.engine, token, cache) == who, "from memory: PostgreSQL was not asked"
    assert principal_for(core.engine, token) is None, "uncached, the database says no"
    clock.advance(0.29)
    assert principal_for(core.engine, token, cache) == who, "still within the TTL"
    clock.advance(0.02)
    assert principal_for(core.engine, token, cache) is None, "past the TTL: asked again, and no"


def test_unknown_tokens_are_never_cached_and_ttl_zero_turns_it_off(core: Core) -> None:
    add_staff(core, "dana", "dispatcher")
    cache = PrincipalCache(ttl_s=30)
    assert principal_for(core.engine, "not-a-token", cache) is None
    assert cache.entry_count() == 0, "an unknown token is not remembered"
    token, _ = login(core, "dana", "correct horse battery", "127.0.0.1")
    off = PrincipalCache(ttl_s=0)
    assert principal_for(core.engine, token, off) is not None
    _revoke_behind_its_back(core, token)
    assert principal_for(core.engine, token, off) is None


def test_an_entry_never_outlives_its_session(core: Core) -> None:

    add_staff(core, "dana", "dispatcher")
    token, _ = login(core, "dana", "correct horse battery", "127.0.0.1")
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE auth_session SET expires_at = now() + interval '200 milliseconds'"))
    clock = FakeClock()
    cache = PrincipalCache(ttl_s=30, clock=clock)
    assert principal_for(core.engine, token, cache) is not None, "the session is live for 200 ms more"
    clock.advance(0.3)
    assert cache.get(token_hash(token)) is None, "the entry lapsed with the session, long before the 30 s TTL"


def test_a_lookup_that_raced_a_revocation_is_not_kept(core: Core) -> None:
    add_staff(core, "dana", "dispatcher")
    token, who = login(core, "dana", "correct horse battery", "127.0.0.1")
    from core.models import utcnow
    from core.tokens import token_hash

    cache = PrincipalCache(ttl_s=30)
    read_at = cache.generation  # a lookup read "valid" here ...
    cache.evict(user_id=who.user_id)  # ... a revocation landed before it stored its answer
    cache.put(token_hash(token), who, utcnow().replace(year=utcnow().year + 1), read_at)
    assert cache.get(token_hash(token)) is None


def test_logout_reset_and_deactivation_reach_another_process_at_once(core: Core, other_process: Core) -> None:
    uid = add_staff(core, "dana", "dispatcher")
    admin = add_principal(core, Role.ADMIN)
    tokens = [login(core, "dana", "correct horse battery", "127.0.0.1")[0] for _ in range(3)]
    for t in tokens:  # both processes have every session in memory
        assert principal_for(core.engine, t, core.principals) is not None
        assert principal_for(other_process.engine, t, other_process.principals) is not None

    logout(core, tokens[0])
    assert principal_for(core.engine, tokens[0], core.principals) is None  # the revoking process: at once
    assert _eventually(lambda: principal_for(other_process.engine, tokens[0], other_process.principals) is None)
    assert principal_for(other_process.engine, tokens[1], other_process.principals) is not None  # only that one

    reset_password(core, admin, uid, "a brand new long password")
    assert _eventually(lambda: principal_for(other_process.engine, tokens[1], other_process.principals) is None)

    fresh = login(core, "dana", "a brand new long password", "127.0.0.1")[0]
    assert principal_for(other_process.engine, fresh, other_process.principals) is not None
    set_staff_active(core, admin, uid, False)
    assert principal_for(core.engine, fresh, core.principals) is None
    assert _eventually(lambda: principal_for(other_process.engine, fresh, other_process.principals) is None)


def test_a_listener_that_resubscribes_forgets_everything(core: Core, other_process: Core) -> None:
    add_staff(core, "dana", "dispatcher")
    token = login(core, "dana", "correct horse battery", "127.0.0.1")[0]
    assert principal_for(other_process.engine, token, other_process.principals) is not None
    _revoke_behind_its_back(core, token)  # no event: the other process cannot know ...
    assert principal_for(other_process.engine, token, other_process.principals) is not None
    # ... until its listener loses Redis and subscribes again (events published meanwhile went unheard).
    core.redis.client_kill_filter(_type="pubsub")
    assert _eventually(lambda: principal_for(other_process.engine, token, other_process.principals) is None)


def test_a_refresh_reads_every_live_session_into_memory_and_no_revoked_one(core: Core) -> None:
    from core.staff.auth import cached_principal, refresh_principals
    from core.tokens import token_hash

    techs = add_technicians(core, 3)
    for i, tech in enumerate(techs):
        add_staff(core, f"tech{i}", "technician", tech_id=tech)
    add_staff(core, "dana", "dispatcher")
    tokens = [login(core, name, "correct horse battery", "127.0.0.1")[0]
              for name in ("tech0", "tech1", "tech2", "dana")]
    _revoke_behind_its_back(core, tokens[1])
    cache = PrincipalCache(ttl_s=30)
    assert refresh_principals(core.engine, cache) == 3, "tech0, tech2, dana: not the revoked one"
    assert cached_principal(cache, tokens[0]).technician_id == techs[0], "tech0's session"
    assert cached_principal(cache, tokens[2]).technician_id == techs[2], "tech2's session"
    assert cached_principal(cache, tokens[3]).role == "dispatcher", "dana's role"
    assert cached_principal(cache, tokens[3]).technician_id is None, "a dispatcher is no technician"
    assert cached_principal(cache, tokens[1]) is None, "the revoked session is not read in"
    # Entries still lapse after the TTL of the read that put them there.
    clock = FakeClock()
    short = PrincipalCache(ttl_s=0.2, clock=clock)
    refresh_principals(core.engine, short)
    assert cached_principal(short, tokens[0]) is not None, "held just after the refresh"
    clock.advance(0.25)
    assert short.get(token_hash(tokens[0])) is None, "lapsed after the TTL"


def test_a_refresh_that_raced_a_revocation_keeps_nothing(core: Core) -> None:
    add_staff(core, "dana", "dispatcher")
    token, who = login(core, "dana", "correct horse battery", "127.0.0.1")
    from core.models import utcnow
    from core.staff.auth import cached_principal
    from core.tokens import token_hash

    cache = PrincipalCache(ttl_s=30)
    read_at = cache.generation  # the refresh's statement read the sessions here ...
    cache.evict(user_id=who.user_id)  # ... and a revocation was heard before it stored them
    assert cache.put_many([(token_hash(token), who, utcnow().replace(year=utcnow().year + 1))], read_at) == 0
    assert cached_principal(cache, token) is None
    assert PrincipalCache(ttl_s=0).put_many([], 0) == 0
