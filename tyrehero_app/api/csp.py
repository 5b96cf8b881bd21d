"""Content-Security-Policy of the pages and of the map pages.

Pages (Reflex): no 'unsafe-eval'. Reflex evaluates strings only for `rx.call_script`, for callbacks given
as strings, for JavaScript sent from the server, for dynamic components and for upload downloads; our
pages run their browser code through functions compiled into the page instead (`tyrehero_app.browserjs`).
Inline scripts stay allowed: React Router's prerendered pages hydrate from inline scripts that change
with every build.

Map pages (folium): their inline scripts carry a fresh nonce per response, and nothing else inline runs,
so even markup that slipped into a tooltip could not run an `onerror=` handler.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from core.config import Settings

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def tile_source(tile_url: str) -> str:
    """The origin of TILE_URL as a CSP source ("{s}.tile.example.org" -> "*.tile.example.org"); "" if relative."""
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{_PLACEHOLDER.sub('*', parts.netloc)}"


def page_csp(settings: Settings) -> str:
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {tile_source(settings.tile_url)}".strip(),
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


def map_csp(settings: Settings, nonce: str) -> str:
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",  # Leaflet positions every tile and marker with inline styles
        f"img-src 'self' data: {tile_source(settings.tile_url)}".strip(),
        "connect-src 'self'",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])
