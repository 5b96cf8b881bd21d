"""Dependencies that stop answering, for the timeout tests: an HTTP server that accepts and never answers,
a PostgreSQL table locked by another connection, and the API of a test's core on a real socket."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import uvicorn

from core.context import Core
from tests.support.redis_server import free_port


@contextlib.contextmanager
def silent_http_server() -> Iterator[str]:
    """http://127.0.0.1:<port>: takes every connection and never sends a byte back."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def table_locked(url: str, table: str) -> Iterator[psycopg.Connection]:
    """Another session holds ACCESS EXCLUSIVE on `table` (a stuck migration, say) until the block ends."""
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


@contextlib.contextmanager
def serving(core: Core) -> Iterator[str]:
    """The HTTP API of `core` on a free loopback port (uvicorn in a thread); its base URL."""
    from tyrehero_app.api.app import create_api
    from tyrehero_app.runtime import set_core

    set_core(core)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(core.settings), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        set_core(None)
