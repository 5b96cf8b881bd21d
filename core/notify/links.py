"""The links texts carry: tracking (`/track/<token>`), rating (`/rate/<token>`), the technician's page."""

from __future__ import annotations

import uuid

from core.config import Settings
from core.context import Core
from core.requests.rating import rating_token

TRACK_PATH = "/track/"
RATE_PATH = "/rate/"
TECH_PATH = "/tech"


def tracking_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url}{TRACK_PATH}{token}"


def rating_url(core: Core, public_id: uuid.UUID) -> str:
    """The rating page's link (core.requests.rating makes and reads its token)."""
    return f"{core.settings.public_base_url}{RATE_PATH}{rating_token(core, public_id)}"
