"""The VAPID key that signs our Web Push calls (RFC 8292): read from VAPID_PRIVATE_KEY, or derived from SECRET_KEY.

A phone's push subscription is bound to the public half (the page passes it to `pushManager.subscribe` as the
`applicationServerKey`): every process must sign with the same key, and a new key orphans every subscription.
Outside production the key is derived from SECRET_KEY (HKDF, its own label), so `make run` and any number of
processes agree without configuration; production sets its own (core.config), so rotating SECRET_KEY does not
silently end push.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The order of the P-256 group: a private key is an integer in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(data: bytes) -> str:
    """Unpadded base64url, the encoding of every key in Web Push."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Padded or not; raises ValueError (binascii.Error) on anything but base64url."""
    text = text.strip()
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from base64url of its 32 raw bytes (what `web-push generate-vapid-keys` prints) or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except ValueError:
            raise ValueError("VAPID_PRIVATE_KEY is not a readable PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
        return key
    try:
        raw = b64url_decode(text)
    except (ValueError, binascii.Error):
        raw = b""
    number = int.from_bytes(raw, "big")
    if len(raw) != 32 or not 0 < number < _P256_ORDER:
        raise ValueError("VAPID_PRIVATE_KEY must be base64url of a 32-byte P-256 private key, or PEM "
                         "(`python -m core vapid-key` makes one)")
    return ec.derive_private_key(number, ec.SECP256R1())


def derived_private_key(secret_key: str) -> ec.EllipticCurvePrivateKey:
    """The key every process derives from the same SECRET_KEY (development and tests)."""
    okm = HKDF(algorithm=hashes.SHA256(), length=48, salt=b"tyrehero", info=b"vapid p-256 key").derive(
        secret_key.encode())
    # 48 bytes reduced modulo n - 1: each key about equally likely (FIPS 186-4 B.4.1), never zero.
    return ec.derive_private_key(int.from_bytes(okm, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def new_private_key() -> str:
    """A fresh key as VAPID_PRIVATE_KEY takes it."""
    return raw_private_key(ec.generate_private_key(ec.SECP256R1()))


def raw_private_key(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as the page passes it to `pushManager.subscribe`: base64url of the uncompressed point."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))
