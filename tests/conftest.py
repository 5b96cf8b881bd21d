"""Shared fixtures: real PostgreSQL and Redis (from the environment, or embedded ones)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from alembic.config import Config

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import OfflineGeocoder
from core.infra import db
from tests.support.databases import scratch_database, servers

TABLES = (
    "audit_event",
    "price_setting",
    "location_ping",
    "request_event",
    "service_request",
    "technician",
    "auth_session",
    "login_failure",
    "user_account",
)


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    """System servers when DATABASE_URL / REDIS_URL are set, else embedded ones in a temp folder."""
    with servers("tyrehero-test-") as urls:
        yield urls


@pytest.fixture(scope="session")
def database_url(server_urls: tuple[str, str]) -> Iterator[str]:
    """A fresh database for this test session, migrated with Alembic (not create_all)."""
    with scratch_database(server_urls[0], "th_test", migrate=True) as url:
        yield url


@pytest.fixture
def scratch_url(server_urls: tuple[str, str]) -> Iterator[str]:
    """An empty database of this test alone (for migrating step by step)."""
    with scratch_database(server_urls[0], "th_scratch") as url:
        yield url


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the database at `url` (for command.upgrade / downgrade to a revision)."""
    cfg = Config(str(db.ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(db.ROOT / "alembic"))
    cfg.attributes["url"] = url
    return cfg


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(database_url, pool_size=30)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine: sa.Engine) -> sa.Engine:
    """The migrated schema with empty tables."""
    with engine.begin() as c:
        # A connection a test forgot to close shows up as this error instead of a hang.
        c.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
        c.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return engine


@pytest.fixture
def redis_client(server_urls: tuple[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server_urls[1])
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis key prefix of this test alone, deleted afterwards."""
    prefix = f"test:{secrets.token_hex(4)}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=10000))
    for i in range(0, len(keys), 5000):
        redis_client.unlink(*keys[i : i + 5000])


@pytest.fixture
def core(clean_db: sa.Engine, database_url: str, server_urls: tuple[str, str], key_prefix: str) -> Iterator[Core]:
    """The real core on the test database and Redis, with an offline geocoder."""
    c = bootstrap(
        Settings(rate_limits_enabled=False),
        database_url=database_url,
        redis_url=server_urls[1],
        key_prefix=key_prefix,
        geocoder=OfflineGeocoder(),
        pool_size=30,
    )
    yield c
    c.close()


class LiveServer:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def api_server(core: Core) -> Iterator[LiveServer]:
    """The HTTP API on a real socket (uvicorn in a thread) bound to the test core."""
    import socket
    import threading
    import time

    import uvicorn

    from tyrehero_app.api.app import create_api
    from tyrehero_app.runtime import set_core

    set_core(core)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # No proxy-header rewriting by uvicorn: the app decides whose X-Forwarded-For to believe (TRUSTED_PROXIES).
    server = uvicorn.Server(uvicorn.Config(create_api(core.settings), host="127.0.0.1", port=port, log_level="warning",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(5)
    set_core(None)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright's sync API, one for the whole session: the browser tests and the
    production-shape tests share it (a second sync Playwright cannot start while one runs)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print what a fault, operations or production-shape test measured, also when it passes."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(line.strip(), flush=True)

    return emit
