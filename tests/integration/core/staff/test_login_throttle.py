"""Login throttling: an attacker failing a username waits longer and longer; the real user does not."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import OfflineGeocoder
from core.staff.auth import AuthFailed, Throttled, login
from core.staff.login_throttle import ADDRESS, PAIR, USERNAME
from tests.factories import add_staff

T0 = 1_900_000_000.0  # every test runs on this injected clock
RIGHT = "correct horse battery"
ATTACKER, REAL_USER = "203.0.113.9", "198.51.100.7"


@pytest.fixture
def redis_down_core(clean_db, database_url: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    """A core whose Redis refuses connections: throttling must go on in PostgreSQL."""
    c = bootstrap(Settings(rate_limits_enabled=False), database_url=database_url, redis_url="redis://127.0.0.1:1/0",
                  geocoder=OfflineGeocoder(), pool_size=30)
    yield c
    c.close()


@pytest.fixture(params=["redis", "postgres"])
def any_core(request: pytest.FixtureRequest) -> Core:
    """The same rules with Redis up and with Redis down."""
    return request.getfixturevalue("core" if request.param == "redis" else "redis_down_core")


def outcome(core: Core, username: str, password: str, ip: str, at: float) -> str | int:
    """'ok', 'failed', or the seconds a throttled attempt was told to wait."""
    try:
        login(core, username, password, ip, at=at)
    except Throttled as e:
        return e.retry_after_s
    except AuthFailed:
        return "failed"
    return "ok"


def fail_until_throttled(core: Core, times: int, ip: str = ATTACKER, username: str = "dana") -> float:
    """Fail `times` times, each as soon as allowed; return the clock after the last failure."""
    at = T0
    for _ in range(times):
        wait = outcome(core, username, "wrong", ip, at)
        if isinstance(wait, int):
            at += wait
            wait = outcome(core, username, "wrong", ip, at)
        assert wait == "failed"
    return at


def test_each_failure_of_a_pair_doubles_its_wait_up_to_a_quarter_hour(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    at, waits = T0, []
    for _ in range(13):
        assert outcome(any_core, "dana", "wrong", ATTACKER, at) == "failed"
        wait = outcome(any_core, "dana", "wrong", ATTACKER, at)
        assert isinstance(wait, int)
        waits.append(wait)
        at += wait
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert PAIR.cap_s == 900


def test_the_real_user_signs_in_from_another_address_while_the_attacker_waits(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    at = fail_until_throttled(any_core, 12)
    # Even the right password is refused from the attacker's address...
    assert outcome(any_core, "dana", RIGHT, ATTACKER, at) == 900
    # ...while Dana, on her own network, is not slowed at all.
    assert outcome(any_core, "dana", RIGHT, REAL_USER, at) == "ok"
    assert outcome(any_core, "dana", RIGHT, ATTACKER, at + 900) == "ok"


def test_a_success_starts_the_pair_afresh(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    at = fail_until_throttled(any_core, 5)  # the next try is allowed 16 s later
    assert outcome(any_core, "dana", RIGHT, ATTACKER, at + 16) == "ok"
    assert outcome(any_core, "dana", "wrong", ATTACKER, at + 16) == "failed"
    assert outcome(any_core, "dana", "wrong", ATTACKER, at + 16) == 1


def concurrently(n: int, attempt: Callable[[int], str | int]) -> list[str | int]:
    """Run n attempts released at the same instant; their outcomes in order."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = attempt(i)  # type: ignore[call-overload]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out  # type: ignore[return-value]


@pytest.mark.parametrize("failures", [ADDRESS.free, ADDRESS.free + 1])
def test_concurrent_failures_from_one_address_are_counted_exactly(any_core: Core, failures: int) -> None:
    # Each thread fails a different username, so only the address counter is shared by all of them.
    got = concurrently(failures, lambda i: outcome(any_core, f"user{i}", "wrong", ATTACKER, T0))
    assert got == ["failed"] * failures
    # The address may fail ADDRESS.free times freely; one more than that means a wait.
    after = outcome(any_core, "someone", "wrong", ATTACKER, T0)
    assert after == ("failed" if failures == ADDRESS.free else 1)


def test_of_a_burst_on_one_pair_exactly_one_attempt_is_tried(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    got = concurrently(12, lambda i: outcome(any_core, "dana", "wrong", ATTACKER, T0))
    assert sorted(got, key=str) == [1] * 11 + ["failed"]


def test_a_username_failed_from_many_addresses_only_slows_those_addresses(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    n = USERNAME.free + 6  # enough for the floor to reach its cap
    assert USERNAME.delay(n) == USERNAME.cap_s
    got = concurrently(n, lambda i: outcome(any_core, "dana", "wrong", f"192.0.2.{i + 1}", T0))
    assert got.count("failed") == n
    # An address that failed once waits the username's floor, which is short...
    assert outcome(any_core, "dana", "wrong", "192.0.2.1", T0 + 1) == USERNAME.cap_s - 1
    # ...and an address that never failed for Dana is not slowed at all.
    assert outcome(any_core, "dana", RIGHT, REAL_USER, T0 + 1) == "ok"
    assert outcome(any_core, "dana", RIGHT, "192.0.2.1", T0 + USERNAME.cap_s) == "ok"


def test_ipv6_addresses_are_counted_per_64(any_core: Core) -> None:
    add_staff(any_core, "dana", "dispatcher")
    assert outcome(any_core, "dana", "wrong", "2001:db8:1:2::1", T0) == "failed"
    assert outcome(any_core, "dana", RIGHT, "2001:db8:1:2:ffff:ffff:ffff:fffe", T0) == 1
    assert outcome(any_core, "dana", RIGHT, "2001:db8:1:3::1", T0) == "ok"
