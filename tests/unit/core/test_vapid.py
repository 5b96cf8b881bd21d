"""The VAPID key: read from VAPID_PRIVATE_KEY (raw or PEM), else derived from SECRET_KEY the same in every process;
production insists on its own key and on https push endpoints."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from core.config import Settings, describe_errors
from core.notify.push_subscriptions import endpoint_problem, signing_key, vapid_public_key
from core.vapid import application_server_key, b64url_decode, derived_private_key, new_private_key, parse_private_key

SAFE = {"secret_key": secrets.token_hex(32), "phone_key": secrets.token_hex(32), "demo_mode": False,
        "seed_demo_data": False, "metrics_token": secrets.token_hex(32), "notify_provider": "twilio",
        "twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "t" * 32, "twilio_from": "+447700900123",
        "public_base_url": "https://tyrehero.example"}


def test_the_derived_key_is_the_same_for_the_same_secret_and_differs_for_another() -> None:
    a1, a2 = derived_private_key("secret one" * 4), derived_private_key("secret one" * 4)
    b = derived_private_key("secret two" * 4)
    assert application_server_key(a1) == application_server_key(a2), "every process derives the same key"
    assert application_server_key(a1) != application_server_key(b)
    assert vapid_public_key(Settings(secret_key="s" * 40)) == vapid_public_key(Settings(secret_key="s" * 40))


def test_the_public_key_is_an_uncompressed_p256_point_as_subscribe_wants() -> None:
    raw = b64url_decode(vapid_public_key(Settings()))
    assert len(raw) == 65 and raw[0] == 4, "65 bytes, 0x04 first"
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a point on the curve


def test_a_configured_key_wins_over_the_derived_one_in_raw_or_pem_form() -> None:
    raw = new_private_key()
    key = parse_private_key(raw)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    want = application_server_key(key)
    assert vapid_public_key(Settings(vapid_private_key=raw)) == want
    assert vapid_public_key(Settings(vapid_private_key=pem)) == want
    assert application_server_key(signing_key(Settings())) != want


@pytest.mark.parametrize("bad", ["not-a-key", "AAAA", "A" * 43,
                                 "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"])
def test_a_malformed_key_is_refused_at_start_up_by_name(bad: str) -> None:
    with pytest.raises(ValidationError) as e:
        Settings(vapid_private_key=bad)
    (line,) = describe_errors(e.value)
    assert line.startswith("VAPID_PRIVATE_KEY:") and "VAPID_PRIVATE_KEY" in line[18:], line


def test_production_needs_its_own_vapid_key_unless_push_is_off() -> None:
    with pytest.raises(ValidationError) as e:
        Settings(environment="production", **SAFE)
    assert [line.split(" ")[0] for line in describe_errors(e.value)] == ["VAPID_PRIVATE_KEY"]
    assert Settings(environment="production", **SAFE, web_push=False).web_push is False
    assert Settings(environment="production", **SAFE, vapid_private_key=new_private_key()).web_push


def test_production_refuses_http_push_endpoints() -> None:
    with pytest.raises(ValidationError) as e:
        Settings(environment="production", **SAFE, vapid_private_key=new_private_key(), push_allow_http=True)
    assert [line.split(" ")[0] for line in describe_errors(e.value)] == ["PUSH_ALLOW_HTTP"]


def test_the_push_contact_is_the_https_site_or_a_mailto() -> None:
    assert Settings(public_base_url="https://tyrehero.example/app").push_subject == "https://tyrehero.example"
    assert Settings().push_subject == "mailto:ops@localhost"
    assert Settings(vapid_subject="mailto:ops@tyrehero.example").push_subject == "mailto:ops@tyrehero.example"
    with pytest.raises(ValidationError, match="mailto"):
        Settings(vapid_subject="ops@tyrehero.example")


@pytest.mark.parametrize(("endpoint", "ok"), [
    ("https://fcm.googleapis.com/fcm/send/abc", True),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", True),
    ("https://web.push.apple.com/QGq", True),
    ("https://wns2-par02p.notify.windows.com/w/?token=x", True),
    ("https://evilfcm.googleapis.com.example/x", False),
    ("https://notfcm.googleapis.com/x", False),
    ("https://127.0.0.1/x", False),
    ("http://fcm.googleapis.com/fcm/send/abc", False),
    ("https://fcm.googleapis.com:notaport/x", False),
    ("javascript:alert(1)", False),
])
def test_only_the_push_services_https_endpoints_are_taken(endpoint: str, ok: bool) -> None:
    assert (endpoint_problem(Settings(), endpoint) == "") is ok, endpoint_problem(Settings(), endpoint)
