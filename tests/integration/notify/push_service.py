"""A browser push service on localhost, as far as a server's side of Web Push sees one (RFC 8030/8291/8292).

It checks what Google's, Mozilla's and Apple's services check of a push: the `Authorization: vapid t=<JWT>,
k=<key>` header (an ES256 JWT signed by the key in `k`, `aud` our origin, a `sub` contact, an `exp` within
24 hours), TTL and Urgency; and it does what the phone does: decrypts the aes128gcm body with the
subscription's private key and auth secret, which the test generated as a browser would. Each subscription
can answer as a push service may: taken (201), gone (410), failing (500), or too slow to answer.
Push services are out of reach from tests; this is the only stand-in in the push tests.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Phone:
    """One browser's subscription: what the page would send us, and the keys only the browser holds."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    answer: str = "ok"  # ok | gone | error | slow

    @property
    def p256dh(self) -> str:
        return _b64(self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                               serialization.PublicFormat.UncompressedPoint))

    @property
    def auth_b64(self) -> str:
        return _b64(self.auth)


@dataclass
class Delivery:
    phone: str  # the endpoint's last segment
    payload: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    headers: dict[str, str]


@dataclass
class PushService:
    url: str = ""
    slow_s: float = 3.0
    phones: dict[str, Phone] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a push was refused (bad VAPID, undecryptable...)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_phone(self, answer: str = "ok") -> Phone:
        name = secrets.token_urlsafe(12)
        phone = Phone(f"{self.url}/push/{name}", ec.generate_private_key(ec.SECP256R1()), os.urandom(16), answer)
        self.phones[name] = phone
        return phone

    def received_by(self, phone: Phone) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if phone.endpoint.endswith("/" + d.phone)]


def _verify_vapid(header: str, origin: str) -> tuple[dict[str, Any], str]:
    """The claims of a valid `vapid t=..., k=...` header, else ValueError naming what is wrong."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"authorization scheme {scheme!r}, wanted vapid")
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    token, key = parts["t"], parts["k"]
    head_b64, claims_b64, sig_b64 = token.split(".")
    if json.loads(_unb64(head_b64)).get("alg") != "ES256":
        raise ValueError("JWT not ES256")
    sig = _unb64(sig_b64)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(key))
    try:
        public.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                      f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("JWT signature does not verify with k") from None
    claims = json.loads(_unb64(claims_b64))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r}, wanted {origin!r}")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise ValueError(f"sub {claims.get('sub')!r} is no contact")
    if not time.time() < int(claims["exp"]) <= time.time() + 24 * 3600:
        raise ValueError(f"exp {claims['exp']} not within 24 hours")
    return claims, key


def start() -> tuple[PushService, ThreadingHTTPServer]:
    service = PushService()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            name = self.path.rsplit("/", 1)[-1]
            phone = service.phones.get(name)
            if phone is None or not self.path.startswith("/push/"):
                return self._answer(404)
            if phone.answer == "slow":
                time.sleep(service.slow_s)
            if phone.answer in ("gone", "error"):
                return self._answer(410 if phone.answer == "gone" else 500)
            try:
                claims, key = _verify_vapid(self.headers.get("Authorization", ""), service.url)
                if self.headers.get("Content-Encoding") != "aes128gcm":
                    raise ValueError(f"content encoding {self.headers.get('Content-Encoding')!r}")
                plain = http_ece.decrypt(body, private_key=phone.private_key, auth_secret=phone.auth,
                                         version="aes128gcm")
                payload = json.loads(plain)
            except Exception as e:  # anything wrong with the push is the server's fault: 400, and recorded
                with service.lock:
                    service.refused.append(f"{type(e).__name__}: {e}")
                return self._answer(400)
            with service.lock:
                service.deliveries.append(Delivery(name, payload, claims, key, {k.lower(): v for k, v in
                                                                                self.headers.items()}))
            self._answer(201)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server
