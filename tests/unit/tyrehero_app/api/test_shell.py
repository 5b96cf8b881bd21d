"""The customer pages' HTML: shell styles inline, the big stylesheet off the critical path, the form inert."""

from __future__ import annotations

import asyncio
import gzip

import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from tests.support.aio import run_coroutine
from tyrehero_app.api.shell import ShellMiddleware, rewrite

PAGE = (b'<html><head><link href="/assets/__reflex_global_styles-AbC1.css" rel="stylesheet" type="text/css"/></head>'
        b'<body><form class="Root" id="help-form"><input name="phone"/></form></body></html>')


def test_the_stylesheet_no_longer_blocks_the_first_paint() -> None:
    out = rewrite(PAGE)
    assert b'rel="stylesheet" type="text/css"/>' not in out, "the blocking stylesheet link is gone"
    assert b'media="print" onload=' in out, "the stylesheet loads without blocking and switches itself on"
    assert out.index(b"<style>") < out.index(b"__reflex_global_styles"), "the shell styles come first, inline"


def test_the_form_cannot_post_before_the_scripts_take_over() -> None:
    assert b'<form onsubmit="return false" class="Root" id="help-form">' in rewrite(PAGE), "the form is inert"


def test_a_page_without_the_stylesheet_is_left_alone() -> None:
    assert rewrite(b"<html><body>map</body></html>") == b"<html><body>map</body></html>", "nothing to rewrite"


def _get(body: bytes, encoding: str | None, path: str) -> httpx.Response:
    headers = {"content-encoding": encoding} if encoding else {}

    def page(_request):  # type: ignore[no-untyped-def]
        return Response(body, media_type="text/html", headers=headers)

    app = ShellMiddleware(Starlette(routes=[Route("/", page), Route("/admin", page)]))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.get(path)

    return run_coroutine(get())


def test_the_middleware_rewrites_gzipped_customer_pages_only() -> None:
    home = _get(gzip.compress(PAGE), "gzip", "/")  # httpx un-gzips: a body that is not gzip of that length fails
    assert home.headers["content-encoding"] == "gzip", "the rewritten page is sent gzipped still"
    assert b"th-styled" in home.content, "the request form is rewritten"
    assert b"th-styled" not in _get(gzip.compress(PAGE), "gzip", "/admin").content, "staff pages are not rewritten"


def test_a_file_sent_by_path_is_read_and_rewritten(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from starlette.responses import FileResponse

    page = tmp_path / "index.html"
    page.write_bytes(PAGE)
    inner = Starlette(routes=[Route("/", lambda _r: FileResponse(page, media_type="text/html"))])
    app = ShellMiddleware(inner)
    sent: list[dict] = []

    async def run() -> None:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
                 "extensions": {"http.response.pathsend": {}}, "http_version": "1.1", "scheme": "http",
                 "server": ("test", 80), "root_path": ""}

        done = asyncio.Event()
        asked: list[int] = []

        async def receive() -> dict:
            asked.append(1)
            if len(asked) == 1:
                return {"type": "http.request", "body": b""}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(scope, receive, send)

    run_coroutine(run())
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"th-styled" in body, "a server's send-by-path is turned into a body the middleware can rewrite"
