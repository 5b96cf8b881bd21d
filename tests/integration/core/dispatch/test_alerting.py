"""The console's alerts reach a webhook over real HTTP: once when an episode starts, once when it ends,
whatever the number of refreshes and processes; a slow or failing webhook delays a post, never loses it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.dispatch.alerting import AlertEpisodes, WebhookPoster, check_alerts, episodes_for
from core.geo.geocode import OfflineGeocoder
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.factories import request_body


@dataclass
class Hook:
    """A webhook receiver on a real socket: records each JSON body; can answer 500s or answer late."""

    url: str = ""
    posts: list[dict] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0

    def texts(self, prefix: str = "") -> list[str]:
        return [p["text"] for p in self.posts if p["text"].startswith(prefix)]


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(state.delay_s)
            if state.status == 200 and self.headers["Content-Type"] == "application/json":
                state.posts.append(body)
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    thread.join(5)


def _waiting(core: Core, n: int) -> list[int]:
    """`n` requests in Reading (one region) with no technician anywhere: all wait."""
    return [submit_request(core, RequestCreate.model_validate(request_body(location={"lat": 51.4545, "lng": -0.9781})))
            .id for _ in range(n)]


def _cancel(core: Core, ids: list[int]) -> None:
    with core.engine.begin() as c:
        c.execute(sa.text("UPDATE service_request SET status = 'cancelled', cancelled_at = now() WHERE id = ANY(:i)"),
                  {"i": ids})


def _episodes(core: Core, hook: Hook, key_prefix: str, timeout_s: float = 2.0) -> AlertEpisodes:
    return episodes_for(core, WebhookPoster(hook.url, timeout_s), key_prefix)


def test_a_backlog_is_posted_when_it_starts_and_when_it_ends_not_every_refresh(core: Core, hook: Hook,
                                                                               key_prefix: str) -> None:
    episodes = _episodes(core, hook, key_prefix)
    ids = _waiting(core, 11)
    first = check_alerts(core, episodes)
    assert "backlog:" in first.started, first
    assert hook.texts("TyreHero alert (critical): 11 requests are waiting") != [], hook.posts
    for _ in range(5):
        assert check_alerts(core, episodes).started == [], "a refresh posts nothing new"
    assert len(hook.texts("TyreHero alert (critical): 11 requests")) == 1, "the start is posted once"
    _cancel(core, ids[:1])
    ended = check_alerts(core, episodes)
    assert ended.resolved == ["backlog:"], ended
    assert len(hook.texts("TyreHero resolved: 11 requests are waiting for a van")) == 1, hook.posts
    check_alerts(core, episodes)
    assert len(hook.texts("TyreHero resolved")) == 1, "the end is posted once"
    assert all(set(p) == {"text"} for p in hook.posts), "Slack-compatible bodies: {'text': ...}"


def test_every_alert_kind_posted_is_one_episode_each(core: Core, hook: Hook, key_prefix: str) -> None:
    _waiting(core, 2)  # two requests in one region with no vans: one low-availability episode
    done = check_alerts(core, _episodes(core, hook, key_prefix))
    assert [k.split(":")[0] for k in done.started] == ["low_availability"], done
    assert len(hook.posts) == 1 and "Only 0 technicians available around" in hook.posts[0]["text"], hook.posts


def test_three_processes_ticking_together_post_each_episode_once(
        core: Core, hook: Hook, key_prefix: str, database_url: str, server_urls: tuple[str, str]) -> None:
    cores = [core] + [bootstrap(Settings(rate_limits_enabled=False), database_url=database_url,
                                redis_url=server_urls[1], key_prefix=key_prefix, geocoder=OfflineGeocoder(),
                                pool_size=5) for _ in range(2)]
    try:
        ids = _waiting(core, 12)
        for phase in ("start", "end"):
            if phase == "end":
                _cancel(core, ids)
            barrier = threading.Barrier(len(cores))

            def run(c: Core, barrier: threading.Barrier = barrier) -> None:
                episodes = _episodes(c, hook, key_prefix)
                barrier.wait()
                for _ in range(4):
                    check_alerts(c, episodes)

            threads = [threading.Thread(target=run, args=(c,)) for c in cores]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert len(hook.texts("TyreHero alert (critical): 12 requests")) == 1, hook.posts
        assert len(hook.texts("TyreHero resolved: 12 requests")) == 1, hook.posts
        starts, ends = len(hook.texts("TyreHero alert")), len(hook.texts("TyreHero resolved"))
        assert starts == ends == 2, f"backlog and low availability, each started and ended once: {hook.posts}"
    finally:
        for c in cores[1:]:
            c.close()


def test_a_failing_webhook_delays_the_post_and_loses_nothing(core: Core, hook: Hook, key_prefix: str) -> None:
    episodes = _episodes(core, hook, key_prefix)
    _waiting(core, 11)
    hook.status = 500
    failed = check_alerts(core, episodes)
    assert failed.failed is not None and failed.started == [], failed
    hook.status = 200
    retried = check_alerts(core, episodes)
    assert "backlog:" in retried.started, retried
    assert len(hook.texts("TyreHero alert (critical): 11 requests")) == 1, hook.posts


def test_a_webhook_that_does_not_answer_costs_one_timeout(core: Core, hook: Hook, key_prefix: str) -> None:
    episodes = _episodes(core, hook, key_prefix, timeout_s=0.5)
    _waiting(core, 11)
    hook.delay_s = 3.0
    started = time.monotonic()
    slow = check_alerts(core, episodes)
    took = time.monotonic() - started
    assert slow.failed is not None, slow
    assert took < 2.0, f"the tick gave up after its timeout, not the webhook's 3 s: {took:.2f} s"
    hook.delay_s = 0.0
    assert check_alerts(core, episodes).started, "posted on the next tick"


def test_settings_refuse_a_webhook_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(alert_webhook_url="ftp://example.org/hook")
    assert Settings(alert_webhook_url="").alert_webhook_url is None, "blank means not posted"


def test_the_app_processes_lifespan_task_posts_when_the_webhook_is_set(core: Core, hook: Hook, key_prefix: str) -> None:
    import asyncio

    from tyrehero_app import lifespan
    from tyrehero_app.runtime import set_core

    core.settings = Settings(rate_limits_enabled=False, alert_webhook_url=hook.url, alert_check_s=1,
                             redis_key_prefix=key_prefix)
    _waiting(core, 11)

    async def run() -> None:
        task = asyncio.create_task(lifespan.alert_webhook())
        for _ in range(100):
            if hook.posts:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # two more checks of the task's 1 s period
        task.cancel()

    set_core(core)
    try:
        asyncio.run(run())
    finally:
        set_core(None)
    assert len(hook.texts("TyreHero alert (critical): 11 requests")) == 1, hook.posts
