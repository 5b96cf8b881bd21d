"""TyreHero settings: one typed object read from the environment.

(Over 300 lines: every setting, its bounds and the production checks in one place an operator can read.)"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core import vapid

_DEV_SECRET = "dev-only-secret-change-me"
MIN_SECRET_CHARS = 32

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class InsecureProduction(ValueError):
    """Every reason the production profile refuses these settings, so an operator fixes them in one go."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("ENVIRONMENT=production refuses to start:\n" + "\n".join(f"  - {p}" for p in problems))


def sqlalchemy_url(v: str | None) -> str | None:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// alike; empty -> None."""
    if not v:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if v.startswith(prefix):
            return "postgresql+psycopg://" + v[len(prefix) :]
    return v


class Settings(BaseSettings):
    """Everything configurable, with defaults that run on a laptop."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # production refuses placeholder secrets, the demo and unguarded metrics (production_problems).
    environment: Environment = Environment.development
    # Unset -> an embedded PostgreSQL / Redis under data_dir is started.
    database_url: str | None = None
    # Optional streaming replica for read-heavy views (map layers, figures); writes stay on the primary.
    database_replica_url: str | None = None
    redis_url: str | None = None
    # Optional Redis Cluster for the technician index (keys sharded by H3 neighbourhood);
    # unset -> the index lives in redis_url like everything else.
    redis_cluster_url: str | None = None
    data_dir: Path = Path("data")
    redis_key_prefix: str = "th:"  # one Redis can serve several deployments side by side

    secret_key: str = _DEV_SECRET
    phone_key: str = _DEV_SECRET

    h3_resolution: int = Field(7, ge=5, le=9)
    h3_coarse_resolution: int = Field(4, ge=2, le=6)
    sla_minutes: int = Field(90, gt=0)
    position_max_age_s: int = Field(120, gt=0)
    duplicate_window_s: int = Field(300, ge=0)
    # A tracking link texted again (a dispatcher's resend, a duplicate submission) at most once per this.
    resend_cooldown_s: int = Field(60, ge=0)

    dispatch_sweep_s: float = Field(10.0, gt=0)
    # A freed technician wakes the process's sweeper, which waits this long so that one sweep serves
    # every van freed meanwhile (apps with a sweeper; without one the release sweeps at once).
    dispatch_coalesce_s: float = Field(0.3, ge=0)
    offer_timeout_s: int = Field(120, gt=0)  # no answer from the technician -> declined, next one
    dispatch_candidates: int = Field(5, ge=1, le=50)
    # Auto-dispatch offers a van only when its ETA is within the SLA plus this margin (90 + 60 = 150 min by
    # default); beyond it the request waits for a dispatcher ("no van within reach"), who can assign anyone.
    auto_dispatch_margin_min: int = Field(60, ge=0)
    # "batch": when 2+ requests wait, assign them all at once (core.dispatch.batch); "greedy": one by one, oldest first.
    # Batch is the default: 70.5% vs 41.1% of calls on site within the SLA in the simulated storm (docs/PERFORMANCE.md).
    dispatch_policy: Literal["batch", "greedy"] = "batch"
    # Both default on so that `make run` is the friendly demo; production must set them false explicitly.
    demo_mode: bool = True  # the fleet simulator moves vans
    seed_demo_data: bool = True  # an empty database gets the demo fleet and logins (never in production)
    demo_fleet_size: int = Field(300, ge=0)
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    support_phone: str = "0800 123 4567"
    rate_limits_enabled: bool = True
    # Location pings older than this many whole months are dropped (core.infra.partitions).
    ping_retention_months: int = Field(6, ge=1)
    # New requests per client address per 10 minutes, and per phone number per hour.
    rate_limit_requests_per_ip: int = Field(30, ge=1)
    rate_limit_requests_per_phone: int = Field(6, ge=1)
    # Tracking reads (page map polls every 2 s) per client address per minute.
    rate_limit_tracking_per_ip: int = Field(120, ge=1)
    # The request form's look-ups before sending (a place, the price, the best van's ETA) per client address
    # per 10 minutes: a driver makes a handful; a script sending form events in a loop is stopped.
    rate_limit_lookups_per_ip: int = Field(600, ge=1)
    retention_days: int = Field(30, ge=1)  # closed requests are anonymised after this
    slow_query_ms: int = Field(100, ge=1)
    # A request slower than this is logged as `slow_request` with its route and its database, Redis and total ms.
    slow_request_ms: int = Field(500, ge=1)
    # Bounds on every dependency, so a stuck one costs a clear 503 in bounded time, never a hung worker.
    # PostgreSQL, per session: a statement (a lock wait included) and a transaction left idle by its client.
    db_statement_timeout_ms: int = Field(5_000, ge=100, le=600_000)
    db_idle_in_transaction_timeout_ms: int = Field(10_000, ge=100, le=3_600_000)
    # The two above go to PostgreSQL as libpq startup options. PgBouncer (1.18, transaction pooling) refuses or
    # drops those: set this false there and give the app's role the same defaults (docs/OPERATIONS.md, Timeouts).
    db_startup_options: bool = True
    # "transaction" when DATABASE_URL points at PgBouncer in transaction pooling: no server-side prepared
    # statements (a transaction may run on any server connection) and no startup options (refused there).
    database_pooler: Literal["", "transaction"] = ""
    redis_socket_timeout_s: float = Field(0.5, gt=0, le=30)  # one command's answer
    redis_connect_timeout_s: float = Field(0.5, gt=0, le=30)
    geocoder_url: str = "https://api.postcodes.io"
    geocoder_timeout_s: float = Field(2.0, gt=0, le=30)  # connect, and each read of the answer
    # Per app process: PostgreSQL connections kept open, and threads running the API's blocking
    # endpoints. Threads beyond the pool would wait for a connection, or open and close extra ones.
    db_pool_size: int = Field(20, ge=1, le=200)
    api_threads: int = Field(6, ge=1, le=400)
    # Seconds a process may answer "who is this session" from memory (0: ask PostgreSQL every call).
    # Revocations reach every listening process at once; this bounds a process that missed one.
    auth_cache_s: float = Field(30.0, ge=0, le=300)
    log_json: bool = True
    # Browser origins besides the app's own that may call the API with credentials (CORS) and post to
    # cookie-authenticated routes, e.g. "https://www.tyrehero.example". Reflex gets the same list.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Reverse proxies whose X-Forwarded-For is believed (CIDR list); nobody else's is.
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    # /metrics answers a bearer METRICS_TOKEN, or callers from METRICS_ALLOW_FROM (CIDR list). Unset: loopback
    # outside production, nobody in production (where one of the two must then be set).
    metrics_token: SecretStr | None = None
    metrics_allow_from: Annotated[tuple[IPNetwork, ...] | None, NoDecode] = None
    # The console's alerts, posted as Slack-compatible JSON ({"text": ...}) when each starts and ends
    # (core.dispatch.alerting). Unset: not posted. The URL is a secret (Slack's carry their token).
    alert_webhook_url: SecretStr | None = None
    alert_webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    alert_check_s: float = Field(15.0, ge=1)

    # Texts (core.notify). "log" writes them to the log and the admin page's Messages list (the default for
    # make run; production refuses it); "twilio" sends them through Twilio with the three TWILIO_ settings.
    notify_provider: Literal["log", "twilio"] = "log"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from: str = ""  # our sender: a number in E.164 (+447...) or an alphanumeric sender ID
    twilio_base_url: str = ""  # unset: Twilio's own API; set only to reach it through a proxy (or a test stand-in)
    # Where the app is reached from outside: links in texts, and the URL Twilio signs its callbacks with.
    public_base_url: str = "http://localhost:3000"
    notify_max_attempts: int = Field(8, ge=1, le=50)  # then the message is `dead`
    notify_retry_base_s: float = Field(5.0, gt=0)  # first retry after about this, doubling, with jitter
    notify_retry_max_s: float = Field(900.0, gt=0)
    notify_lease_s: float = Field(60.0, gt=0)  # a send not marked within this is looked up, then retried
    notify_poll_s: float = Field(5.0, gt=0)  # the relay also looks for due messages this often (NOTIFY wakes it)
    notify_batch: int = Field(20, ge=1, le=500)
    # Whether this process runs a relay (every process does by default; at least one must, or texts wait).
    notify_relay: bool = True
    arriving_minutes: int = Field(5, ge=1, le=30)  # "about 5 minutes away" is texted once the ETA drops to this

    # Web Push of job offers to technicians' phones (core.notify.push), tried before the offer's text.
    web_push: bool = True
    # The VAPID key (P-256): base64url of the raw 32-byte private key, or PEM (`python -m core vapid-key`).
    # Unset outside production: derived from SECRET_KEY, so every process agrees; production sets its own, since
    # phones' subscriptions are bound to it and must survive a SECRET_KEY rotation.
    vapid_private_key: SecretStr | None = None
    vapid_subject: str = ""  # mailto: or https: contact for the push services; unset: PUBLIC_BASE_URL
    push_timeout_s: float = Field(5.0, gt=0, le=30)  # per push service call; a slower one sends the text instead
    # Hosts a subscription's endpoint may name (a host or its subdomains): the browsers' push services, so a
    # subscription cannot make the server post to an address of our own network.
    push_endpoint_hosts: Annotated[tuple[str, ...], NoDecode] = (
        "fcm.googleapis.com", "push.services.mozilla.com", "notify.windows.com", "push.apple.com")
    push_allow_http: bool = False  # http:// endpoints, for tests' local push service only; production refuses it

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _sqlalchemy_url(cls, v: str | None) -> str | None:
        return sqlalchemy_url(v)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{v!r} is not a base URL (scheme://host[:port][/path], e.g. https://www.tyrehero.example)")
        return v

    @field_validator("redis_url")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("metrics_token", "twilio_auth_token", "alert_webhook_url", "vapid_private_key", mode="before")
    @classmethod
    def _blank_token_is_none(cls, v: object) -> object:
        return v or None

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and urlsplit(v.get_secret_value()).scheme not in ("http", "https"):
            raise ValueError("give an http:// or https:// URL")
        return v

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            vapid.parse_private_key(v.get_secret_value())  # a clear error at start-up, not at the first offer
        return v

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, v: str) -> str:
        v = v.strip()
        if v and not (v.startswith("mailto:") or v.startswith("https://")):
            raise ValueError("give a mailto: address or an https:// URL the push services can contact")
        return v

    @field_validator("push_endpoint_hosts", mode="before")
    @classmethod
    def _hosts(cls, v: object) -> tuple[str, ...]:
        return tuple(h.lower().strip(".") for h in _items(v))

    @field_validator("trusted_proxies", "metrics_allow_from", mode="before")
    @classmethod
    def _networks(cls, v: object) -> object:
        return v if v is None else parse_networks(v)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> tuple[str, ...]:
        return tuple(normalise_origin(o) for o in _items(v))

    @model_validator(mode="after")
    def _production_profile(self) -> Settings:
        if self.metrics_allow_from is None:
            self.metrics_allow_from = () if self.environment == Environment.production else LOOPBACK
        if self.environment == Environment.production and (problems := production_problems(self)):
            raise InsecureProduction(problems)
        return self

    @property
    def data_path(self) -> Path:
        return self.data_dir.resolve()

    @property
    def push_subject(self) -> str:
        """Who the push services may contact about our pushes (VAPID `sub`): VAPID_SUBJECT, else the https://
        site (production's PUBLIC_BASE_URL), else a mailto: at the host (a push service refuses plain http)."""
        if self.vapid_subject:
            return self.vapid_subject
        parts = urlsplit(self.public_base_url)
        return f"https://{parts.netloc}" if parts.scheme == "https" else f"mailto:ops@{parts.hostname}"


def production_problems(s: Settings) -> list[str]:
    """What makes these settings unsafe to serve the public with: all of it, not the first thing found."""
    problems = []
    for name in ("secret_key", "phone_key"):
        value = getattr(s, name)
        if value == _DEV_SECRET or len(value) < MIN_SECRET_CHARS:
            problems.append(f"{name.upper()} must be a random value of {MIN_SECRET_CHARS}+ characters "
                            "(e.g. `openssl rand -hex 32`), not the development placeholder")
    if s.demo_mode:
        problems.append("DEMO_MODE must be false: the demo simulator moves vans and runs their jobs by itself")
    if s.seed_demo_data:
        problems.append("SEED_DEMO_DATA must be false: it would create the demo fleet and logins whose passwords "
                        "are published")
    token = s.metrics_token.get_secret_value() if s.metrics_token else ""
    if not token and not s.metrics_allow_from:
        problems.append("METRICS_TOKEN must be set (a random value of 32+ characters) unless METRICS_ALLOW_FROM "
                        "lists the addresses that may read /metrics")
    elif token and len(token) < MIN_SECRET_CHARS:
        problems.append(f"METRICS_TOKEN must be {MIN_SECRET_CHARS}+ characters")
    problems.extend(_notify_problems(s))
    if s.web_push and s.vapid_private_key is None:
        problems.append("VAPID_PRIVATE_KEY must be set (`python -m core vapid-key` makes one), or WEB_PUSH=false: "
                        "phones subscribe to this key, so it must not follow SECRET_KEY")
    if s.push_allow_http:
        problems.append("PUSH_ALLOW_HTTP must be false: push endpoints are https:// in production")
    return problems


def _notify_problems(s: Settings) -> list[str]:
    if s.notify_provider == "log":
        return ["NOTIFY_PROVIDER must be twilio: the log provider sends no text, and the request form promises one"]
    problems = [f"{name.upper()} must be set for NOTIFY_PROVIDER=twilio"
                for name in ("twilio_account_sid", "twilio_from") if not getattr(s, name)]
    if s.twilio_auth_token is None or not s.twilio_auth_token.get_secret_value():
        problems.append("TWILIO_AUTH_TOKEN must be set for NOTIFY_PROVIDER=twilio")
    if not s.public_base_url.startswith("https://"):
        problems.append("PUBLIC_BASE_URL must be the https:// address customers open "
                        "(links in texts, Twilio's callbacks)")
    return problems


def describe_errors(e: ValidationError) -> list[str]:
    """A settings error as lines an operator can act on: each problem once, by its variable name."""
    lines: list[str] = []
    for err in e.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, InsecureProduction):
            lines.extend(cause.problems)
            continue
        name = "_".join(str(part) for part in err["loc"][:1]).upper() or "settings"
        lines.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def _items(v: object) -> list[str]:
    """A list setting from the environment: "a, b" or a JSON array; already-parsed sequences pass."""
    if v is None:
        return []
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            v = json.loads(text)
        else:
            return [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    if isinstance(v, Iterable):
        return [x if isinstance(x, str) else str(x) for x in v]
    raise ValueError("expected a comma-separated list")


def parse_networks(v: object) -> tuple[IPNetwork, ...]:
    """CIDR blocks ("10.0.0.0/8, ::1"); a bare address is a block of one."""
    out = []
    for item in _items(v):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR block (e.g. 10.0.0.0/8)") from None
    return tuple(out)


def normalise_origin(origin: str) -> str:
    """`https://Example.org/` -> `https://example.org`; anything but scheme://host[:port] is refused."""
    text = origin.strip().rstrip("/")
    if text == "*":
        raise ValueError("'*' is not allowed: list the origins that may call the API (https://www.example.org)")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], e.g. https://www.example.org)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{origin!r} has an invalid port") from None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
