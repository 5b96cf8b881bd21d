"""SQLModel tables: the source of truth. Alembic migrations mirror this module.

(Over 300 lines: one module of tables, so the schema reads in one place.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Field, SQLModel

from core.states import ON_A_JOB, OPEN, RequestStatus, TechStatus, sql_list

OPEN_REQUEST_STATUSES = (RequestStatus.PENDING, RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ON_SITE)
ACTIVE_JOB_STATUSES = (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ON_SITE)


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_id(row_id: int | None) -> int:
    """The id of a row read from the database: SQLModel types ids optional, for rows not yet inserted."""
    if row_id is None:
        raise ValueError("a row read from the database has an id")
    return row_id


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a table model, typed, for statements written against columns rather than the model."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it per table class, undeclared
    return table


def _ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable, **kw))


def _created() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


class UserAccount(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=16)  # admin | dispatcher | technician
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime = _created()
    # Two-factor sign-in (core.staff.mfa). The TOTP secret is encrypted with the phone vault's key; it is set
    # (and not yet enabled) while an enrolment waits for its first code. `totp_last_step` is the newest
    # 30-second step whose code was accepted: a code of that step or an older one is refused (no replay).
    totp_secret_enc: str | None = Field(default=None, max_length=255)
    totp_enabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    totp_enabled_at: datetime | None = _ts()


class Technician(SQLModel, table=True):
    __tablename__ = "technician"
    __table_args__ = (
        sa.Index("ix_technician_cell_status", "h3_cell", "status"),
        sa.Index("ix_technician_parent_status", "h3_parent", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", unique=True)
    van_reg: str = Field(max_length=12)
    van_label: str = Field(default="", max_length=60)
    capabilities: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(pg.ARRAY(sa.String(24)), nullable=False, server_default="{}"),
    )
    home_base: str = Field(default="", max_length=80)
    # The technician's mobile, encrypted like a customer's (core.phones): offers go there by text when push cannot.
    phone_enc: str | None = Field(default=None, max_length=255)
    status: str = Field(default=TechStatus.OFFLINE.value, max_length=16)
    lat: float | None = None
    lng: float | None = None
    h3_cell: str | None = Field(default=None, max_length=16)
    h3_parent: str | None = Field(default=None, max_length=16)
    position_at: datetime | None = _ts()
    active: bool = True
    version: int = 0
    created_at: datetime = _created()


class ServiceRequest(SQLModel, table=True):
    __tablename__ = "service_request"
    __table_args__ = (
        sa.Index(
            "ix_request_open_queue",
            "status",
            "priority",
            "created_at",
            postgresql_where=sa.text(f"status IN ({sql_list(OPEN)})"),
        ),
        sa.Index("ix_request_phone_recent", "phone_hash", "created_at"),
        # The database itself refuses a second active job for one technician.
        sa.Index(
            "uq_request_one_active_job_per_technician",
            "technician_id",
            unique=True,
            postgresql_where=sa.text(f"status IN ({sql_list(ON_A_JOB)})"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column_kwargs={"unique": True})
    reference: str = Field(max_length=12, sa_column_kwargs={"unique": True})
    tracking_token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    idempotency_key: str | None = Field(default=None, max_length=128, sa_column_kwargs={"unique": True})
    # Keyed hash of the body sent with idempotency_key (core.requests.duplicates.body_fingerprint): a replay of the key
    # gets this request back only with the same body. NULL on rows stored before revision 0007: their key
    # is never replayed (a retry that old is not a retry), see core.requests.duplicates.check_replay.
    idempotency_fingerprint: str | None = Field(default=None, max_length=64)

    customer_name: str = Field(max_length=100)
    phone_enc: str = Field(max_length=255)
    phone_hash: str = Field(max_length=64)
    lat: float
    lng: float
    h3_cell: str = Field(max_length=16)
    location_label: str = Field(default="", max_length=120)
    location_approximate: bool = False
    postcode: str | None = Field(default=None, max_length=10)
    vehicle: str = Field(max_length=80)
    vehicle_reg: str | None = Field(default=None, max_length=10)
    vehicle_type: str = Field(default="car", max_length=16)
    tyre_size: str | None = Field(default=None, max_length=24)
    issue: str = Field(max_length=24)
    on_motorway: bool = False
    vulnerable: bool = False
    notes: str = Field(default="", max_length=500)
    required_capabilities: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(pg.ARRAY(sa.String(24)), nullable=False, server_default="{}"),
    )

    status: str = Field(default=RequestStatus.PENDING.value, max_length=16)
    priority: int = Field(default=3)
    quote_pence: int
    eta_minutes: int | None = None
    technician_id: int | None = Field(default=None, foreign_key="technician.id")
    created_at: datetime = _created()
    assigned_at: datetime | None = _ts()
    accepted_at: datetime | None = _ts()
    en_route_at: datetime | None = _ts()
    on_site_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    cancelled_at: datetime | None = _ts()
    cancel_reason: str | None = Field(default=None, max_length=200)
    version: int = 0


class RequestEvent(SQLModel, table=True):
    """The timeline and audit trail of one request."""

    __tablename__ = "request_event"
    __table_args__ = (
        # "Arriving" (core.technicians.jobs.record_positions) is written once per job: per request and technician.
        sa.Index("uq_request_event_arriving", "request_id", sa.text("(data->>'technician_id')"), unique=True,
                 postgresql_where=sa.text("kind = 'arriving'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id", index=True)
    at: datetime = _created()
    kind: str = Field(max_length=32)
    actor: str = Field(default="system", max_length=100)  # the name shown on the timeline
    actor_id: int | None = None  # the account that acted (None: the customer or the system)
    actor_role: str | None = Field(default=None, max_length=20)  # a core.principal.Role, or "customer"
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(pg.JSONB, nullable=False, server_default="{}"),
    )


class LocationPing(SQLModel, table=True):
    """Position history of technicians.

    Partitioned by month on recorded_at (migration 0004; partitions `location_ping_yYYYYmMM`
    and `location_ping_default`, kept up by core.infra.partitions). PostgreSQL wants the partition
    key in the primary key, hence (id, recorded_at); id is still generated by the database.
    """

    __tablename__ = "location_ping"
    __table_args__ = (
        sa.Index("ix_ping_technician_time", "technician_id", "recorded_at"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True, nullable=False)
    )
    technician_id: int = Field(foreign_key="technician.id")
    lat: float
    lng: float
    accuracy_m: float | None = None
    recorded_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), primary_key=True, nullable=False))
    received_at: datetime = _created()


class AuthSession(SQLModel, table=True):
    """A login: a page cookie or an API bearer token. Only the token's hash is stored."""

    __tablename__ = "auth_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    kind: str = Field(max_length=8)  # cookie | bearer
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = _ts()


class LoginFailure(SQLModel, table=True):
    """Failed logins, counted per account and per address for throttling."""

    __tablename__ = "login_failure"
    __table_args__ = (
        sa.Index("ix_login_failure_username_at", "username", "at"),
        sa.Index("ix_login_failure_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    ip: str = Field(max_length=45)
    at: datetime = _created()


class RecoveryCode(SQLModel, table=True):
    """One-time codes that stand in for the authenticator app (ten per enrolment). Only a keyed hash is
    stored; `used_at` is set by the one statement that accepts a code, so each works once."""

    __tablename__ = "recovery_code"
    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_code_user_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = _created()
    used_at: datetime | None = _ts()


class EnrolmentCode(SQLModel, table=True):
    """A one-time code an admin gives a colleague (in person or by phone) so that an account without
    two-factor sign-in can sign in once, where a second factor is required, and set it up. Hash only."""

    __tablename__ = "enrolment_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    issued_by: str = Field(max_length=100)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    used_at: datetime | None = _ts()


class PriceSetting(SQLModel, table=True):
    """The price table, one row per entry of core.requests.pricing.PriceTable (admins change it)."""

    __tablename__ = "price_setting"

    name: str = Field(primary_key=True, max_length=40)
    value: int
    updated_at: datetime = _created()
    updated_by: str = Field(default="", max_length=100)


class AuditEvent(SQLModel, table=True):
    """Staff actions outside a request's own timeline: accounts, fleet, prices, personal-data requests."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor: str = Field(max_length=100)
    actor_id: int | None = None  # the account that acted (None: the system)
    actor_role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=40, index=True)
    target: str = Field(default="", max_length=100)
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(pg.JSONB, nullable=False, server_default="{}"),
    )


class OutboundMessage(SQLModel, table=True):
    """The notification outbox (core.notify): one text to one recipient about one request event.

    Rows are written by the trigger `request_event_outbox` (migration 0009) in the transaction that writes
    the event, so a change and its message commit together. No phone number and no tracking token is
    stored here: the relay renders the text and decrypts the number at send time. `next_attempt_at` is
    when a pending row may be tried, and for a `sending` row when its lease runs out."""

    __tablename__ = "outbound_message"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "template", "recipient", name="uq_outbound_message_event_template"),
        sa.Index("ix_outbound_message_due", "next_attempt_at",
                 postgresql_where=sa.text("status IN ('pending','sending')")),
        sa.Index("ix_outbound_message_request", "request_id", "id"),
        sa.Index("uq_outbound_message_provider_id", "provider_id", unique=True,
                 postgresql_where=sa.text("provider_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    event_id: int = Field(foreign_key="request_event.id")
    request_id: int = Field(foreign_key="service_request.id")
    recipient: str = Field(max_length=12)  # customer | technician
    template: str = Field(max_length=24)
    status: str = Field(default="pending", max_length=12)  # core.notify.outbox.MessageStatus
    attempts: int = 0
    next_attempt_at: datetime = _created()
    created_at: datetime = _created()
    sent_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    # The outcome of the last attempt is unknown (timeout, crash, 5xx): ask the provider before sending again.
    in_doubt: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Keyed hash of the text of the attempt in flight, to find it at the provider (core.notify.relay).
    digest: str | None = Field(default=None, max_length=64)
    attempt_started_at: datetime | None = _ts()
    channel: str | None = Field(default=None, max_length=8)  # sms | push, once sent
    provider: str | None = Field(default=None, max_length=16)
    provider_id: str | None = Field(default=None, max_length=64)
    provider_status: str | None = Field(default=None, max_length=16)
    preview: str | None = Field(default=None, max_length=400)  # the text as sent, the link's token masked
    last_error: str | None = Field(default=None, max_length=300)


class Rating(SQLModel, table=True):
    """The driver's rating of a completed job (core.requests.rating): one per request, 1-5 stars and an
    optional comment. The unique request_id is what makes "once per request" hold under any concurrency."""

    __tablename__ = "rating"
    __table_args__ = (
        sa.UniqueConstraint("request_id", name="uq_rating_request"),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_rating_stars"),
        sa.Index("ix_rating_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_request.id")
    technician_id: int | None = Field(default=None, foreign_key="technician.id")
    stars: int = Field(sa_type=sa.SmallInteger)
    comment: str = Field(default="", max_length=500)
    created_at: datetime = _created()


class PushSubscription(SQLModel, table=True):
    """A technician's phone that takes Web Push job offers (core.notify.push): the push service's endpoint and
    the browser's keys the payload is encrypted to. One row per endpoint: a phone that a second technician signs
    in on and subscribes from moves to them. Removed when the push service answers 404/410 (gone)."""

    __tablename__ = "push_subscription"
    __table_args__ = (
        sa.UniqueConstraint("endpoint", name="uq_push_subscription_endpoint"),
        sa.Index("ix_push_subscription_technician", "technician_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    technician_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("technician.id", ondelete="CASCADE"),
                                                   nullable=False))
    endpoint: str = Field(max_length=1024)
    p256dh: str = Field(max_length=100)  # the browser's P-256 public key, base64url
    auth: str = Field(max_length=40)  # the browser's 16-byte auth secret, base64url
    # The login it was made under: pushed to only while that session lives (logged out, expired or revoked:
    # the offer is texted instead), so a shared phone stops ringing for whoever signed out of it.
    session_hash: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("auth_session.token_hash",
                                                                                 ondelete="CASCADE"), nullable=False))
    created_at: datetime = _created()
    last_used_at: datetime | None = _ts()  # the last push the service accepted
