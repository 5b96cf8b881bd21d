"""The pages' promises about texts are kept: a request's life through the relay sends every promised text, in
the promised order, and the first carries the very link the form took the driver to."""

from __future__ import annotations

from datetime import timedelta

from core.context import Core
from core.models import utcnow
from core.notify.links import tracking_url
from core.notify.promises import FORM_PROMISE, PROMISED_TEXTS, TRACKING_PROMISE
from core.phones import normalise_uk_mobile
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from core.technicians.jobs import PositionIn, job_action, record_positions
from tests.factories import add_technicians, as_technician, request_body
from tests.integration.notify.conftest import Clock, drain, messages, relay
from tests.integration.notify.twilio_stub import TwilioStub


def test_every_promised_text_is_sent_in_order_with_the_pages_link(twilio_core: Core, twilio: TwilioStub,
                                                                   clock: Clock) -> None:
    core = twilio_core
    (tid,) = add_technicians(core, 1, seed=8, spread=0.3)
    body = request_body(location={"lat": 51.4545, "lng": -0.9781})
    answer = submit_request(core, RequestCreate.model_validate(body))
    r = relay(core, clock)
    me = as_technician(tid)
    job_action(core, me, answer.id, "accept")
    job_action(core, me, answer.id, "en-route")
    drain(r)
    t0 = utcnow()
    record_positions(core, tid, [PositionIn(51.4546, -0.9782, t0 + timedelta(seconds=1))])
    drain(r)
    for step in ("arrived", "complete"):
        job_action(core, me, answer.id, step)
        drain(r)
    sent = [m.template for m in messages(core, answer.id) if m.recipient == "customer" and m.status == "queued"]
    promised = [t for t, _ in PROMISED_TEXTS]
    assert [t for t in sent if t in promised] == promised, f"sent {sent}, promised {promised}"
    bodies = twilio.bodies_to(normalise_uk_mobile(body["phone"]))
    link = tracking_url(core.settings, answer.tracking_token)
    assert link in bodies[0], f"the first text carries the page's own link {link}: {bodies[0]}"
    for _, words in PROMISED_TEXTS[1:]:
        assert words in FORM_PROMISE and words in TRACKING_PROMISE, words
