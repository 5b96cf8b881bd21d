"""The relay against the Twilio stand-in: a request's whole life, retries, dead letters, lost outcomes, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from core.context import Core
from core.models import utcnow
from core.notify.providers.base import OutgoingText, SendResult
from core.notify.relay import Relay
from core.principal import Principal
from core.technicians.jobs import PositionIn, job_action, record_positions
from tests.factories import add_technicians, as_technician, random_mobile
from tests.integration.notify.conftest import Clock, drain, messages, provider, relay, submit
from tests.integration.notify.twilio_stub import TwilioStub


def _tech_phone(core: Core, tid: int) -> str:
    from core.phones import normalise_uk_mobile

    number = normalise_uk_mobile(random_mobile())
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE technician SET phone_enc = :p WHERE id = :t"),
                  {"p": core.vault.encrypt(number), "t": tid})
    return number


def test_a_whole_request_life_texts_each_step_once_and_in_order(twilio_core: Core, twilio: TwilioStub,
                                                                 clock: Clock) -> None:
    core = twilio_core
    (tid,) = add_technicians(core, 1, seed=3, spread=0.3)
    tech_number = _tech_phone(core, tid)
    r = relay(core, clock)
    rid, customer = submit(core, location={"lat": 51.4545, "lng": -0.9781})
    drain(r)
    me = as_technician(tid)
    job_action(core, me, rid, "accept")
    job_action(core, me, rid, "en-route")
    drain(r)
    t0 = utcnow()
    record_positions(core, tid, [PositionIn(51.9, -0.9, t0)])  # ~50 km out: not yet
    drain(r)
    for i in (1, 2):  # beside the customer, twice: "arriving" once
        record_positions(core, tid, [PositionIn(51.4546, -0.9782, t0 + timedelta(seconds=i))])
    drain(r)
    job_action(core, me, rid, "arrived")
    drain(r)
    job_action(core, me, rid, "complete")
    drain(r)
    bodies = twilio.bodies_to(customer)
    expected = ["has your request", "is coming", "is on the way", "about 5 minutes away", "has arrived", "done. Price"]
    assert len(bodies) == len(expected), f"the customer got {len(bodies)} texts: {bodies}"
    for body, words in zip(bodies, expected, strict=True):
        assert words in body, (words, body)
    assert "/rate/" in bodies[-1], "the completion text links to the rating page"
    from core.requests.rating import rating_view

    view = rating_view(core, bodies[-1].rsplit("/rate/", 1)[1])
    assert view.reference in bodies[-1], "the rating link opens this visit's rating page"
    offers = twilio.bodies_to(tech_number)
    assert len(offers) == 1, f"the technician got {offers}"
    assert "job offer" in offers[0], offers[0]
    statuses = {m.status for m in messages(core, rid)}
    assert statuses == {"queued"}, f"statuses {statuses}: every text was taken by Twilio"


def test_the_customer_number_and_links_reach_the_provider_but_not_the_outbox(twilio_core: Core, twilio: TwilioStub,
                                                                             clock: Clock) -> None:
    rid, customer = submit(twilio_core)
    drain(relay(twilio_core, clock))
    (body,) = twilio.bodies_to(customer)
    assert "https://tyrehero.example/track/" in body, f"no tracking link in {body!r}"
    (row,) = messages(twilio_core, rid)
    token = body.rsplit("/", 1)[1]
    assert token not in (row.preview or ""), "the preview masks the tracking token"
    assert "****" in (row.preview or ""), f"preview {row.preview!r} does not mark the masked token"


def test_two_relays_racing_send_every_message_exactly_once(twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    numbers = [submit(twilio_core)[1] for _ in range(30)]
    relays = [relay(twilio_core, clock), relay(twilio_core, clock)]
    claimed = [0, 0]

    def run(i: int) -> None:
        claimed[i] = drain(relays[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    print(f"claimed per relay: {claimed}")
    assert sum(claimed) == 30, f"claimed per relay {claimed}: 30 messages, each claimed once"
    assert sorted(m.to for m in twilio.messages) == sorted(numbers), "each number got exactly one text"


def test_a_failing_provider_delays_with_backoff_then_sends_once(twilio_core: Core, twilio: TwilioStub,
                                                                clock: Clock) -> None:
    rid, customer = submit(twilio_core)
    r = relay(twilio_core, clock)
    twilio.fail_next = 2
    assert r.run_once() == 1, "the message was claimed"
    (m,) = messages(twilio_core, rid)
    assert (m.status, m.attempts) == ("pending", 1), f"{m.status} after {m.attempts}: waiting to retry"
    assert "500" in m.last_error, f"last error {m.last_error!r} names the 500"
    assert _delay(m) == 5.0, "first retry after NOTIFY_RETRY_BASE_S (jitter drawn at its top)"
    assert r.run_once() == 0, "nothing is due before the back-off ends"
    clock.advance(5)
    assert r.run_once() == 1, "due again after the back-off"
    (m,) = messages(twilio_core, rid)
    assert _delay(m) == 10.0, "the back-off doubles"
    clock.advance(10)
    r.run_once()
    (m,) = messages(twilio_core, rid)
    assert (m.status, m.attempts) == ("queued", 3), f"{m.status} after {m.attempts} attempts"
    assert m.in_doubt is False, "the doubt from the 500s is settled"
    assert len(twilio.bodies_to(customer)) == 1, "sent once, after two failures"


def _delay(m: sa.Row) -> float:
    return (m.next_attempt_at - m.updated_at).total_seconds()


def test_a_message_is_dead_after_the_last_attempt(twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    rid, customer = submit(twilio_core)
    r = relay(twilio_core, clock)
    twilio.fail_next = 100
    for _ in range(twilio_core.settings.notify_max_attempts):
        assert r.run_once() == 1, "claimed while attempts remain"
        clock.advance(twilio_core.settings.notify_retry_max_s)
    (m,) = messages(twilio_core, rid)
    assert (m.status, m.attempts) == ("dead", 4), f"{m.status} after {m.attempts}: dead at NOTIFY_MAX_ATTEMPTS"
    assert r.run_once() == 0, "a dead message is not tried again"
    assert twilio.bodies_to(customer) == [], "nothing reached the customer"


def test_a_refused_number_is_dead_at_once(twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    rid, _ = submit(twilio_core)
    twilio_core.settings.twilio_auth_token = None  # type: ignore[assignment]
    r = Relay(twilio_core, provider_with_wrong_token(twilio_core), clock=clock)
    r.run_once()
    (m,) = messages(twilio_core, rid)
    assert (m.status, m.attempts) == ("dead", 1), f"{m.status} after {m.attempts}: a refusal is not retried"
    assert "401" in m.last_error, f"last error {m.last_error!r} names the 401"


def provider_with_wrong_token(core: Core):  # type: ignore[no-untyped-def]
    from core.notify.providers.twilio import TwilioProvider

    return TwilioProvider(core.settings.twilio_account_sid, "wrong", core.settings.twilio_from,
                          base_url=core.settings.twilio_base_url)


class Crash(BaseException):
    """The process dies: nothing after this runs (not an Exception, so nothing on the way catches it)."""


class DiesAfterSending:
    """The real Twilio provider, in a process killed right after Twilio took the text, before the mark."""

    name = "twilio"

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real

    def send(self, text: OutgoingText) -> SendResult:
        self.real.send(text)
        raise Crash

    def find(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.real.find(*args, **kwargs)


def test_a_crash_between_send_and_mark_never_texts_twice(twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    rid, customer = submit(twilio_core)
    dying = Relay(twilio_core, DiesAfterSending(provider(twilio_core)), clock=clock)
    try:
        dying.run_once()
    except Crash:
        pass
    (m,) = messages(twilio_core, rid)
    assert m.status == "sending", "the lease holds the message while its outcome is unknown"
    restarted = relay(twilio_core, clock)
    assert restarted.run_once() == 0, "nobody takes it before the lease ends"
    clock.advance(twilio_core.settings.notify_lease_s + 1)
    assert restarted.run_once() == 1, "taken over once the lease ran out"
    (m,) = messages(twilio_core, rid)
    assert (m.status, m.attempts) == ("queued", 2), f"{m.status} after {m.attempts} attempts"
    assert m.provider_id == twilio.messages[0].sid, "the text found at Twilio is recorded as this message's"
    assert len(twilio.bodies_to(customer)) == 1, "found at the provider, not sent again"


def test_a_timeout_after_twilio_took_the_text_is_resolved_without_a_second_text(twilio_core: Core, twilio: TwilioStub,
                                                                              clock: Clock) -> None:
    rid, customer = submit(twilio_core)
    twilio.slow_next, twilio.slow_s = 1, 1.5
    r = relay(twilio_core, clock, timeout_s=0.5)
    r.run_once()
    (m,) = messages(twilio_core, rid)
    assert m.status == "pending", f"{m.status}: a timeout is retried"
    assert m.in_doubt is True, "a timeout leaves the outcome in doubt"
    clock.advance(10)
    r.run_once()
    (m,) = messages(twilio_core, rid)
    assert m.status == "queued", f"{m.status}: the timed-out text is recorded as sent"
    assert len(twilio.bodies_to(customer)) == 1, "the timed-out text was found, not sent again"


def test_a_relay_killed_mid_batch_and_restarted_sends_each_pending_message_once(twilio_core: Core, twilio: TwilioStub,
                                                                              clock: Clock) -> None:
    numbers = [submit(twilio_core)[1] for _ in range(10)]
    dying = Relay(twilio_core, DiesAfterSending(provider(twilio_core)), clock=clock)
    try:
        dying.run_once(limit=5)  # claims 5, sends the first, dies
    except Crash:
        pass
    clock.advance(twilio_core.settings.notify_lease_s + 1)
    drain(relay(twilio_core, clock))
    assert sorted(m.to for m in twilio.messages) == sorted(numbers), "every number texted exactly once"


def test_an_offer_no_longer_open_is_skipped_not_texted(twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    (tid,) = add_technicians(twilio_core, 1, seed=8)
    tech_number = _tech_phone(twilio_core, tid)
    rid, _ = submit(twilio_core)
    job_action(twilio_core, Principal.system("test"), rid, "decline", tech_id=tid)
    drain(relay(twilio_core, clock))
    offer = [m for m in messages(twilio_core, rid) if m.template == "offer"][0]
    assert (offer.status, offer.last_error) == ("skipped", "the offer is no longer open"), offer
    assert twilio.bodies_to(tech_number) == [], "no text for an offer already declined"


def test_an_offer_goes_by_text_to_the_mobile_an_admin_set_and_is_skipped_once_it_is_removed(
        twilio_core: Core, twilio: TwilioStub, clock: Clock) -> None:
    from core.phones import normalise_uk_mobile
    from core.principal import Role
    from core.staff import admin
    from tests.factories import add_principal

    core = twilio_core
    root = add_principal(core, Role.ADMIN, "root")
    (tid,) = add_technicians(core, 1, seed=5, spread=0.3)
    typed = random_mobile()
    admin.update_technician(core, root, tid, admin.TechnicianIn(name="Tech0 Test", van_reg="TT00 ABC", phone=typed))
    r = relay(core, clock)

    rid, _customer = submit(core, location={"lat": 51.4545, "lng": -0.9781})
    drain(r)

    (offer,) = twilio.bodies_to(normalise_uk_mobile(typed))
    assert "job offer" in offer, offer
    (row,) = [m for m in messages(core, rid) if m.template == "offer"]
    assert row.status == "queued", (row.status, row.last_error)

    job_action(core, as_technician(tid), rid, "decline")
    admin.update_technician(core, root, tid, admin.TechnicianIn(name="Tech0 Test", van_reg="TT00 ABC", phone=""))
    rid2, _ = submit(core, location={"lat": 51.4545, "lng": -0.9781})
    drain(r)
    offers = [m for m in messages(core, rid2) if m.template == "offer"]
    assert [(m.status, m.last_error) for m in offers] == [("skipped", "the technician has no mobile number on file")], \
        offers
    assert len(twilio.bodies_to(normalise_uk_mobile(typed))) == 1, "nothing more went to the removed number"
