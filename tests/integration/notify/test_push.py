"""Job offers by Web Push, through pywebpush to a push service on localhost that checks the VAPID signature and
decrypts the payload with the keys the test's "browser" made; the text is the fallback."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.context import Core
from core.errors import Forbidden, ValidationFailed
from core.notify.providers import LogProvider
from core.notify.push import WebPushOffers
from core.notify.push_subscriptions import push_subscription_count, subscribe_push, vapid_public_key
from core.notify.relay import Relay
from core.phones import normalise_uk_mobile
from core.principal import Principal, Role
from core.staff.auth import login, logout
from tests.factories import add_staff, add_technicians, as_technician, random_mobile
from tests.integration.notify import push_service
from tests.integration.notify.conftest import drain, messages, submit
from tests.integration.notify.push_service import Phone, PushService

READING = {"lat": 51.4545, "lng": -0.9781}


@pytest.fixture
def push() -> Iterator[PushService]:
    service, server = push_service.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_core(core: Core, push: PushService) -> Core:
    """The test core, allowed to push to the local push service (http, 127.0.0.1: tests only)."""
    core.settings = Settings(rate_limits_enabled=False, push_allow_http=True, push_endpoint_hosts=("127.0.0.1",),
                             push_timeout_s=1.0, offer_timeout_s=120)
    return core


def _technician(core: Core, *, with_number: bool = True) -> int:
    (tid,) = add_technicians(core, 1, around=(READING["lat"], READING["lng"]), spread=0.01, seed=7)
    if with_number:
        with core.engine.begin() as c:
            c.execute(sa.text("UPDATE technician SET phone_enc = :p WHERE id = :t"),
                      {"p": core.vault.encrypt(normalise_uk_mobile(random_mobile())), "t": tid})
    return tid


PASSWORD = "correct horse battery"  # tests.factories.add_staff's


def _signed_in(core: Core, tid: int) -> tuple[str, Principal]:
    """A login of technician `tid` on a phone: its session token and principal."""
    username = f"tech-{tid}-{secrets.token_hex(3)}"
    add_staff(core, username, "technician", tech_id=tid)
    return login(core, username, PASSWORD, "127.0.0.1")


def _subscribe(core: Core, tid: int, phone: Phone) -> str:
    """Technician `tid` signs in on `phone` and turns offer alerts on; returns the session token."""
    token, who = _signed_in(core, tid)
    subscribe_push(core, who, token, phone.endpoint, phone.p256dh, phone.auth_b64)
    return token


def _offer(core: Core, rid: int) -> sa.Row:
    (offer,) = [m for m in messages(core, rid) if m.template == "offer"]
    return offer


def _subscriptions(core: Core, tid: int) -> list[sa.Row]:
    with core.engine.connect() as c:
        return c.execute(sa.text("SELECT * FROM push_subscription WHERE technician_id = :t"), {"t": tid}).all()


def _relay(core: Core) -> tuple[Relay, LogProvider]:
    sms = LogProvider()
    return Relay(core, sms, offer_push=WebPushOffers(core)), sms


def _texted(sms: LogProvider, offer: sa.Row) -> bool:
    return f"msg-{offer.id}" in sms._sent


def test_an_offer_reaches_the_phone_signed_and_encrypted_and_is_not_texted(push_core: Core,
                                                                             push: PushService) -> None:
    core = push_core
    tid = _technician(core)
    phone = push.new_phone()
    _subscribe(core, tid, phone)
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    drain(relay)
    assert push.refused == [], f"the push service refused: {push.refused}"
    (got,) = push.received_by(phone)
    offer = _offer(core, rid)
    reference = core.engine.connect().execute(sa.text("SELECT reference FROM service_request WHERE id = :r"),
                                              {"r": rid}).scalar_one()
    assert got.payload["reference"] == reference, f"payload {got.payload} names the request"
    assert got.payload["url"] == "/tech" and reference in got.payload["title"], got.payload
    assert "job offer" in got.payload["body"], f"the body is the offer's text: {got.payload['body']!r}"
    assert got.vapid_key == vapid_public_key(core.settings), "signed with the key the page subscribes with"
    assert got.claims["aud"] == push.url, got.claims
    assert (got.headers["ttl"], got.headers["urgency"]) == ("120", "high"), got.headers
    assert (offer.status, offer.channel, offer.provider) == ("sent", "push", "webpush"), tuple(offer)
    assert not _texted(sms, offer), "an offer the phone took by push is not texted too"
    customer = [m for m in messages(core, rid) if m.recipient == "customer"]
    assert customer and all(m.channel == "sms" for m in customer), "the customer's texts are texts still"
    (row,) = _subscriptions(core, tid)
    assert row.last_used_at is not None, "the subscription's last use is recorded"


def test_a_gone_subscription_is_removed_and_the_offer_goes_by_text(push_core: Core, push: PushService) -> None:
    core = push_core
    tid = _technician(core)
    _subscribe(core, tid, push.new_phone(answer="gone"))
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    drain(relay)
    offer = _offer(core, rid)
    assert (offer.channel, offer.provider) == ("sms", "log"), tuple(offer)
    assert _texted(sms, offer), "the offer went by text"
    assert _subscriptions(core, tid) == [], "a 410 removes the subscription"


def test_a_phone_logged_out_of_stops_ringing_and_the_offer_goes_by_text(push_core: Core, push: PushService) -> None:
    """A shared van phone: the technician who signed out of it is not offered jobs on it any more."""
    core = push_core
    tid = _technician(core)
    phone = push.new_phone()
    token = _subscribe(core, tid, phone)
    logout(core, token)
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    drain(relay)
    offer = _offer(core, rid)
    assert (offer.channel, offer.provider) == ("sms", "log"), tuple(offer)
    assert _texted(sms, offer), "the offer went by text to the technician's number"
    assert push.received_by(phone) == [], "nothing was pushed to the phone that was logged out of"


def test_one_phone_gone_and_another_taking_it_counts_as_pushed(push_core: Core, push: PushService) -> None:
    core = push_core
    tid = _technician(core)
    old, new = push.new_phone(answer="gone"), push.new_phone()
    _subscribe(core, tid, old)
    _subscribe(core, tid, new)
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    drain(relay)
    assert len(push.received_by(new)) == 1, "the live phone got the offer"
    assert [r.endpoint for r in _subscriptions(core, tid)] == [new.endpoint], "only the gone one was removed"
    assert _offer(core, rid).channel == "push" and not _texted(sms, _offer(core, rid))


@pytest.mark.parametrize("answer", ["slow", "error", "down"])
def test_a_push_service_down_slow_or_failing_sends_the_text(push_core: Core, push: PushService, answer: str) -> None:
    core = push_core
    tid = _technician(core)
    phone = push.new_phone(answer="ok" if answer == "down" else answer)
    if answer == "down":  # nothing listens there any more
        phone.endpoint = phone.endpoint.replace(push.url, "http://127.0.0.1:9")
    _subscribe(core, tid, phone)
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    started = time.monotonic()
    drain(relay)
    took = time.monotonic() - started
    offer = _offer(core, rid)
    assert (offer.channel, offer.status) == ("sms", "delivered"), tuple(offer)
    assert _texted(sms, offer), "the offer went by text"
    assert took < 5, f"the relay waited {took:.1f} s: PUSH_TIMEOUT_S (1 s) bounds a stuck push service"
    assert len(_subscriptions(core, tid)) == 1, "a failure other than 404/410 keeps the subscription"


def test_no_subscription_and_no_number_skips_the_offer(push_core: Core, push: PushService) -> None:
    core = push_core
    _technician(core, with_number=False)
    relay, sms = _relay(core)
    rid, _ = submit(core, location=READING)
    drain(relay)
    offer = _offer(core, rid)
    assert offer.status == "skipped" and "no push subscription" in offer.last_error, tuple(offer)


def test_a_technician_subscribes_only_themselves(push_core: Core, push: PushService) -> None:
    core = push_core
    mine, theirs = add_technicians(core, 2, seed=9)
    phone = push.new_phone()
    _subscribe(core, mine, phone)
    assert [r.technician_id for r in _subscriptions(core, mine)] == [mine]
    assert _subscriptions(core, theirs) == [], "the other technician has no subscription"
    for role in (Role.DISPATCHER, Role.ADMIN, Role.SYSTEM):
        with pytest.raises(Forbidden):  # nobody subscribes a phone on a technician's behalf
            subscribe_push(core, Principal(1, "x", "X", role, mine), "t", phone.endpoint, phone.p256dh,
                           phone.auth_b64)
    with pytest.raises(Forbidden, match="not linked"):
        subscribe_push(core, Principal(1, "t", "T", Role.TECHNICIAN, None), "t", phone.endpoint, phone.p256dh,
                       phone.auth_b64)
    assert push_subscription_count(core, as_technician(theirs)) == 0


def test_bad_subscriptions_are_refused_with_a_message_per_field(core: Core, push: PushService) -> None:
    (tid,) = add_technicians(core, 1, seed=11)
    phone = push.new_phone()
    token, me = _signed_in(core, tid)
    cases = {
        "http://fcm.googleapis.com/fcm/send/x": ("endpoint", "https://"),
        "https://10.0.0.5/push/x": ("endpoint", "not a push service"),
        "https://fcm.googleapis.com/" + "x" * 1100: ("endpoint", "at most 1024"),
        "https://user:pw@fcm.googleapis.com/x": ("endpoint", "no user name"),
        "": ("endpoint", "no push endpoint"),
    }
    for endpoint, (field, words) in cases.items():
        with pytest.raises(ValidationFailed) as e:
            subscribe_push(core, me, token, endpoint, phone.p256dh, phone.auth_b64)
        assert words in e.value.errors[field], (endpoint, e.value.errors)
    with pytest.raises(ValidationFailed) as e:
        subscribe_push(core, me, token, "https://fcm.googleapis.com/fcm/send/abc", "bm90LWEta2V5", "short")
    assert set(e.value.errors) == {"p256dh", "auth"}, e.value.errors
    assert _subscriptions(core, tid) == [], "nothing half-stored"
    subscribe_push(core, me, token, "https://fcm.googleapis.com/fcm/send/abc", phone.p256dh, phone.auth_b64)
    assert len(_subscriptions(core, tid)) == 1, "a push service's https endpoint is taken"
