"""How a bearer secret handed to a client (a staff session token, a tracking link's token) is stored.

Only its hash is kept, so a copy of the tables lets nobody act as a session or open a tracking link.
A plain SHA-256 is enough: the tokens are long random (or keyed) strings, never guessable words, so
a slow or salted hash would add cost to every request and no strength.
"""

from __future__ import annotations

import hashlib


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token: what the tables store and look tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()
