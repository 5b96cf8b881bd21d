"""Twilio's delivery reports: signed ones move a message's status forwards; forged or unsigned ones are refused."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

from core.context import Core
from core.notify.relay import STATUS_CALLBACK_PATH
from tests.integration.notify.conftest import Clock, drain, messages, relay, submit
from tests.integration.notify.twilio_stub import TwilioStub


def _sent(core: Core, clock: Clock) -> tuple[int, str, str]:
    """A text sent through the stand-in: (request id, message id, Twilio's SID)."""
    rid, _ = submit(core)
    drain(relay(core, clock))
    (m,) = messages(core, rid)
    return rid, str(m.id), m.provider_id


def _post(base: str, core: Core, message_id: str, form: dict[str, str], signature: str | None) -> httpx.Response:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return httpx.post(f"{base}{STATUS_CALLBACK_PATH}?m={message_id}", data=form, headers=headers)


def _sign(core: Core, message_id: str, form: dict[str, str], token: str | None = None) -> str:
    url = f"{core.settings.public_base_url}{STATUS_CALLBACK_PATH}?m={message_id}"
    assert core.settings.twilio_auth_token is not None
    secret = token or core.settings.twilio_auth_token.get_secret_value()
    return str(RequestValidator(secret).compute_signature(url, form))


def test_the_callback_url_given_to_twilio_carries_our_message_id(twilio_core: Core, twilio: TwilioStub,
                                                                 clock: Clock) -> None:
    _rid, mid, _sid = _sent(twilio_core, clock)
    wanted = f"https://tyrehero.example{STATUS_CALLBACK_PATH}?m={mid}"
    assert twilio.messages[0].status_callback == wanted, twilio.messages[0].status_callback


def test_a_signed_report_moves_the_message_forwards_only(twilio_core: Core, twilio: TwilioStub, clock: Clock,
                                                         api_server) -> None:  # type: ignore[no-untyped-def]
    rid, mid, sid = _sent(twilio_core, clock)
    for status in ("sent", "delivered", "sent"):  # the late "sent" must not undo "delivered"
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": twilio.account_sid}
        r = _post(api_server.url, twilio_core, mid, form, _sign(twilio_core, mid, form))
        assert r.status_code == 204, f"{status}: {r.status_code} {r.text}"
    (m,) = messages(twilio_core, rid)
    assert m.status == "delivered", f"{m.status}: a late 'sent' must not undo 'delivered'"


def test_a_failed_delivery_is_recorded_with_its_error_code(twilio_core: Core, twilio: TwilioStub, clock: Clock,
                                                           api_server) -> None:  # type: ignore[no-untyped-def]
    rid, mid, sid = _sent(twilio_core, clock)
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    r = _post(api_server.url, twilio_core, mid, form, _sign(twilio_core, mid, form))
    assert r.status_code == 204, f"{r.status_code} {r.text}"
    (m,) = messages(twilio_core, rid)
    assert m.status == "failed", f"{m.status}: undelivered is failed"
    assert m.last_error == "twilio error 30003", m.last_error


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong-token"])
def test_an_unsigned_or_forged_report_is_refused(twilio_core: Core, twilio: TwilioStub, clock: Clock,
                                                 api_server, signature: str | None) -> None:  # type: ignore[no-untyped-def]
    rid, mid, sid = _sent(twilio_core, clock)
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    if signature == "wrong-token":
        signature = _sign(twilio_core, mid, form, token="not-our-auth-token")
    r = _post(api_server.url, twilio_core, mid, form, signature)
    assert r.status_code == 403, f"{r.status_code} {r.text}"
    assert "X-Twilio-Signature" in r.json()["detail"], r.json()
    (m,) = messages(twilio_core, rid)
    assert m.status == "queued", "a refused report changes nothing"


def test_a_signed_report_for_another_messages_sid_changes_nothing(twilio_core: Core, twilio: TwilioStub, clock: Clock,
                                                                   api_server) -> None:  # type: ignore[no-untyped-def]
    rid, mid, _sid = _sent(twilio_core, clock)
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"}
    r = _post(api_server.url, twilio_core, mid, form, _sign(twilio_core, mid, form))
    assert r.status_code == 204, f"{r.status_code} {r.text}"
    (m,) = messages(twilio_core, rid)
    assert m.status == "queued", "a SID that is not this message's does not touch it"


def test_a_report_records_a_send_whose_relay_died_before_marking_it(twilio_core: Core, twilio: TwilioStub,
                                                                    clock: Clock, api_server) -> None:  # type: ignore[no-untyped-def]
    from core.notify.relay import Relay
    from tests.integration.notify.conftest import provider
    from tests.integration.notify.test_relay import Crash, DiesAfterSending

    rid, customer = submit(twilio_core)
    try:
        Relay(twilio_core, DiesAfterSending(provider(twilio_core)), clock=clock).run_once()
    except Crash:
        pass
    (m,) = messages(twilio_core, rid)
    mid, sid = str(m.id), twilio.messages[0].sid
    form = {"MessageSid": sid, "MessageStatus": "sent"}
    r = _post(api_server.url, twilio_core, mid, form, _sign(twilio_core, mid, form))
    assert r.status_code == 204, f"{r.status_code} {r.text}"
    (m,) = messages(twilio_core, rid)
    assert m.status == "sent", f"{m.status}: the report recorded the send"
    assert m.provider_id == sid, "with Twilio's SID"
    clock.advance(twilio_core.settings.notify_lease_s + 1)
    assert relay(twilio_core, clock).run_once() == 0, "the report took it out of the relay's hands"
    assert len(twilio.bodies_to(customer)) == 1, "texted once"
