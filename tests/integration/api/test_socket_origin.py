"""The WebSocket upgrade (Reflex's `/_event`) is refused to other sites' pages, over a real socket.

The API alone has no Socket.IO server, so this one mounts a stand-in WebSocket endpoint at `/_event/`
on the real API app (same middleware stack as in the full app) and reports the headers it received."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
import websocket
from fastapi import WebSocket

from core.context import Core
from tests.integration.api.edge_support import EVIL, PARTNER, configure
from tests.support.redis_server import free_port
from tyrehero_app.api.app import create_api


@pytest.fixture
def socket_url(core: Core) -> Iterator[str]:
    configure(core, cors_origins=(PARTNER,))
    api = create_api(core.settings)

    @api.websocket("/_event/")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(json.dumps({"origin": ws.headers.get("origin")}))
        await ws.close()

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    yield f"ws://127.0.0.1:{port}/_event/?EIO=4&transport=websocket"
    server.should_exit = True
    thread.join(5)


def _open(url: str, **headers: str) -> dict:
    kwargs: dict = {"timeout": 5}
    if "origin" in headers:
        kwargs["origin"] = headers.pop("origin")
    else:
        kwargs["suppress_origin"] = True
    ws = websocket.create_connection(url, header=[f"{k}: {v}" for k, v in headers.items()], **kwargs)
    try:
        return json.loads(ws.recv())
    finally:
        ws.close()


def _refused(url: str, **headers: str) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        _open(url, **headers)
    return e.value.status_code


def test_another_sites_page_cannot_open_the_socket(socket_url: str) -> None:
    assert _refused(socket_url, origin=EVIL) == 403
    assert _refused(socket_url, origin="null") == 403
    assert _refused(socket_url, **{"Sec-Fetch-Site": "cross-site"}) == 403


def test_our_own_page_opens_it_and_socketio_is_not_asked_again(socket_url: str) -> None:
    own = "http://" + socket_url.split("/")[2]
    assert _open(socket_url, origin=own, **{"Sec-Fetch-Site": "same-origin"}) == {"origin": None}


def test_a_configured_origin_opens_it(socket_url: str) -> None:
    assert _open(socket_url, origin=PARTNER) == {"origin": None}


def test_a_client_that_is_no_browser_connects_as_before(socket_url: str) -> None:
    assert _open(socket_url) == {"origin": None}
