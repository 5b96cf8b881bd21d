"""The console's alerts posted to a webhook (ALERT_WEBHOOK_URL, Slack-compatible `{"text": ...}`), once per episode.

An episode is one alert from the tick that first sees it to the tick that no longer does: a backlog, one
request's SLA at risk, one region short of vans, one technician silent. Its start and its end are posted
once each, not every refresh, and once across every app process: each process's task checks every
`ALERT_CHECK_S`, but a tick runs only under a Redis lock (`SET NX PX`, released by its owner), and the open
episodes live in one Redis hash, so a second process sees what the first posted. A post that fails or times
out records nothing and stops the tick: the next tick posts it again. A process that dies between a post
and its record posts that one again (at least once: a page missed is worse than a page twice).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import redis

from core.context import Core
from core.dispatch.console import Alert, system_alerts
from core.models import utcnow
from core.principal import Principal

log = logging.getLogger(__name__)
PAGER = Principal.system("alert webhook")
MAX_POSTS_PER_TICK = 20  # a storm posts the rest on the next ticks; the lock outlives this many timeouts

# Delete the lock only if this tick still owns it (it may have expired and been taken by another process).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def episode_key(a: Alert) -> str:
    """What names one episode: the kind and what it is about (not its text, whose figures change)."""
    about = {"backlog": "", "sla_risk": a.request_id, "low_availability": a.region,
             "silent_technician": a.technician_id}.get(a.kind, a.text)
    return f"{a.kind}:{about}"


class WebhookPoster:
    """Posts `{"text": ...}` to a webhook URL with a timeout; raises on a non-2xx answer or a network error."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def __call__(self, text: str) -> None:
        self.client.post(self.url, json={"text": text}).raise_for_status()

    def close(self) -> None:
        self.client.close()


@dataclass
class Posted:
    """What one tick did: the episodes it announced and closed, whether another process held the tick,
    and the post that failed (None if none)."""

    started: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    skipped: bool = False
    failed: str | None = None


def _hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M UTC")


@dataclass
class AlertEpisodes:
    """The open episodes in Redis (`<prefix>alerts:open`, key -> JSON of its text and start) and the tick lock."""

    redis: redis.Redis
    prefix: str
    post: Callable[[str], None]
    lock_ms: int = 60_000

    @property
    def open_key(self) -> str:
        return f"{self.prefix}alerts:open"

    @property
    def lock_key(self) -> str:
        return f"{self.prefix}alerts:lock"

    def tick(self, alerts: list[Alert], now: datetime | None = None) -> Posted:
        """Post the starts and ends of episodes since the last tick of any process."""
        owner = uuid.uuid4().hex
        if not self.redis.set(self.lock_key, owner, nx=True, px=self.lock_ms):
            return Posted(skipped=True)
        try:
            return self._tick(alerts, now or utcnow())
        finally:
            self.redis.eval(_RELEASE, 1, self.lock_key, owner)

    def _tick(self, alerts: list[Alert], now: datetime) -> Posted:
        done = Posted()
        current = {episode_key(a): a for a in alerts}
        opened = {k.decode(): json.loads(v) for k, v in self.redis.hgetall(self.open_key).items()}  # type: ignore[union-attr]
        starts = [(k, a) for k, a in current.items() if k not in opened]
        ends = [(k, e) for k, e in opened.items() if k not in current]
        for key, a in starts[:MAX_POSTS_PER_TICK]:
            text = f"TyreHero alert ({a.severity}): {a.text}"
            if not self._post(text, done):
                return done
            self.redis.hset(self.open_key, key, json.dumps({"text": a.text, "since": now.isoformat()}))
            done.started.append(key)
        for key, e in ends[: MAX_POSTS_PER_TICK - len(done.started)]:
            minutes = int((now - datetime.fromisoformat(e["since"])).total_seconds() // 60)
            text = f"TyreHero resolved: {e['text']} (since {_hhmm(e['since'])}, {minutes} min)"
            if not self._post(text, done):
                return done
            self.redis.hdel(self.open_key, key)
            done.resolved.append(key)
        return done

    def _post(self, text: str, done: Posted) -> bool:
        try:
            self.post(text)
            return True
        except Exception as e:  # the webhook's fault or the network's: retried next tick
            log.warning("alert webhook post failed (%s); retrying next tick", e.__class__.__name__)
            done.failed = text
            return False


def episodes_for(core: Core, post: Callable[[str], None], key_prefix: str | None = None) -> AlertEpisodes:
    """The episodes of this deployment (its Redis key prefix), posting through `post`."""
    timeout_ms = int(core.settings.alert_webhook_timeout_s * 1000)
    return AlertEpisodes(core.redis, key_prefix if key_prefix is not None else core.settings.redis_key_prefix, post,
                         lock_ms=MAX_POSTS_PER_TICK * timeout_ms + 30_000)


def check_alerts(core: Core, episodes: AlertEpisodes) -> Posted:
    """One tick: the console's alerts now, their episodes' starts and ends posted."""
    return episodes.tick(system_alerts(core, PAGER))
