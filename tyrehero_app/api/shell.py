"""The customer pages paint from their own HTML on a slow connection, before the big stylesheet arrives.

Reflex pre-renders each page's markup, but its one stylesheet (Radix Themes and ours, 82 KB gzipped) is
render-blocking and shares a one-bar connection with ~250 KB of scripts that are preloaded beside it:
on emulated slow 3G (400 kbps, 300 ms) the request form stayed blank for 8.4 s (docs/PERFORMANCE.md).
For the customer pages this middleware rewrites the HTML once per build:
- a small inline stylesheet (`SHELL_CSS`) styles the pre-rendered form well enough to read and use;
- the big stylesheet loads without blocking the first paint, and switches the shell off when it lands;
- until the scripts have taken over the form, a press of "Send for help" does nothing rather than post the
  driver's details in a URL; the phone number at the top works from the first paint (a tel: link).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable

# Styles for Radix Themes' pre-rendered class names, only until the real stylesheet is in (html.th-styled).
SHELL_CSS = """
html:not(.th-styled) *,html:not(.th-styled) *::before,html:not(.th-styled) *::after{box-sizing:border-box}
html:not(.th-styled) .rt-r-weight-bold{font-weight:700}
html:not(.th-styled) .rt-r-weight-medium{font-weight:500}
html:not(.th-styled) body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2024;
 background:#fff;line-height:1.45;font-size:16px}
html:not(.th-styled) .rt-Flex{display:flex}
html:not(.th-styled) .rt-r-fd-column{flex-direction:column}
html:not(.th-styled) .rt-r-ai-center{align-items:center}
html:not(.th-styled) .rt-r-ai-start{align-items:flex-start}
html:not(.th-styled) .rt-r-gap-1{gap:4px}
html:not(.th-styled) .rt-r-gap-2{gap:8px}
html:not(.th-styled) .rt-r-gap-3{gap:12px}
html:not(.th-styled) .rt-r-gap-4{gap:16px}
html:not(.th-styled) .rt-Heading{margin:0;font-size:26px;line-height:1.2;font-weight:700}
html:not(.th-styled) .rt-Text{margin:0}
html:not(.th-styled) .rt-r-size-2.rt-Text{font-size:14px}
html:not(.th-styled) .rt-Card{border:1px solid #d9d9e0;border-radius:12px;padding:16px}
html:not(.th-styled) .rt-Button{display:flex;align-items:center;justify-content:center;gap:8px;border:0;
 border-radius:8px;padding:0 16px;min-height:48px;font:inherit;font-weight:600;background:#ffc53d;color:#21201c}
html:not(.th-styled) .rt-Button[data-accent-color=blue]{background:#0d74ce;color:#fff}
html:not(.th-styled) .rt-Button.rt-variant-soft{background:#e8e8ec;color:#1c2024}
html:not(.th-styled) .rt-Link{color:inherit;text-decoration:none}
html:not(.th-styled) .rt-Badge{display:inline-block;background:#ffc53d;border-radius:6px;padding:2px 8px;
 font-weight:600}
html:not(.th-styled) .rt-TextFieldRoot,html:not(.th-styled) .rt-TextAreaRoot{width:100%}
html:not(.th-styled) input.rt-TextFieldInput,html:not(.th-styled) textarea,html:not(.th-styled) select{
 box-sizing:border-box;width:100%;min-height:44px;font:inherit;font-size:16px;padding:8px 12px;
 border:1px solid #8b8d98;border-radius:8px;background:#fff;color:#1c2024}
html:not(.th-styled) .rt-CheckboxRoot{width:24px;height:24px;border:1px solid #8b8d98;border-radius:4px;
 background:#fff;padding:0}
html:not(.th-styled) svg.lucide{width:20px;height:20px;flex:none}
"""

_SHEET = re.compile(rb'<link href="(/assets/__reflex_global_styles-[^"]+\.css)" rel="stylesheet"[^>]*/>')
_FORM = re.compile(rb'<form ([^>]*id="help-form")')


def _is_customer_page(path: str) -> bool:
    return path in ("/", "/index.html") or path.startswith("/track/")


def rewrite(html: bytes) -> bytes:
    """The page with the shell styles inline and the big stylesheet loaded without blocking the first paint."""
    match = _SHEET.search(html)
    if match is None:
        return html
    href = match.group(1)
    deferred = (b"<style>" + SHELL_CSS.strip().encode() + b"</style>"
                + b'<link href="' + href + b'" rel="stylesheet" media="print" '
                + b"onload=\"this.media='all';document.documentElement.classList.add('th-styled')\"/>")
    html = html[:match.start()] + deferred + html[match.end():]
    # Until React owns the form, a submit must not post the driver's details to a URL.
    return _FORM.sub(rb'<form onsubmit="return false" \1', html, count=1)


class ShellMiddleware:
    """Rewrites the customer pages' HTML (`rewrite`), caching the result per (body, encoding)."""

    def __init__(self, app, transform: Callable[[bytes], bytes] = rewrite) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.transform = transform
        self._cache: dict[tuple[int, bytes], bytes] = {}

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http" or scope["method"] != "GET" or not _is_customer_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html") or message["status"] != 200:
                    start["pass"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("pass"):
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                await self._finish(start, b"".join(chunks), send)

        # Files are then sent as body messages, not by path (the server's zero-copy send), so they can be read.
        extensions = {k: v for k, v in (scope.get("extensions") or {}).items()
                      if k not in ("http.response.pathsend", "http.response.zerocopysend")}
        await self.app({**scope, "extensions": extensions}, receive, capture)

    async def _finish(self, start: dict, body: bytes, send) -> None:  # type: ignore[no-untyped-def]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"etag")]
        encoding = dict(start.get("headers", [])).get(b"content-encoding", b"")
        if body and encoding in (b"", b"gzip"):
            key = (hash(body), encoding)
            out = self._cache.get(key)
            if out is None:
                html = gzip.decompress(body) if encoding == b"gzip" else body
                new = self.transform(html)
                out = body if new == html else (gzip.compress(new, 6) if encoding == b"gzip" else new)
                if len(self._cache) > 64:
                    self._cache.clear()
                self._cache[key] = out
            body = out
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
