"""notification outbox: outbound_message, the trigger that fills it from request_event, "arriving" once per
job, and the technician's encrypted mobile

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Which request events reach whom, with which template (core.notify.templates renders each one). A trigger,
# not the call sites: every writer of request_event, present and future, gets its message in its own
# transaction. NOTIFY is transactional too: relays hear of the rows when, and only if, they commit.
OUTBOX_FUNCTION = """
CREATE OR REPLACE FUNCTION request_event_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbound_message (event_id, request_id, recipient, template)
    SELECT NEW.id, NEW.request_id, route.recipient, route.template
    FROM (VALUES
        ('created', 'customer', 'received'),
        ('assigned', 'customer', 'assigned'),
        ('assigned', 'technician', 'offer'),
        ('en_route', 'customer', 'en_route'),
        ('arriving', 'customer', 'arriving'),
        ('on_site', 'customer', 'on_site'),
        ('completed', 'customer', 'completed'),
        ('cancelled', 'customer', 'cancelled'),
        ('declined', 'customer', 'requeued'),
        ('unassigned', 'customer', 'requeued'),
        ('link_resent', 'customer', 'tracking_link')
    ) AS route(kind, recipient, template)
    WHERE route.kind = NEW.kind;
    IF FOUND THEN
        PERFORM pg_notify('outbound_message', '');
    END IF;
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.create_table('outbound_message',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('in_doubt', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('attempt_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('provider_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('preview', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['request_event.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['service_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'template', 'recipient', name='uq_outbound_message_event_template')
    )
    op.create_index('ix_outbound_message_due', 'outbound_message', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text("status IN ('pending','sending')"))
    op.create_index('ix_outbound_message_request', 'outbound_message', ['request_id', 'id'], unique=False)
    op.create_index('uq_outbound_message_provider_id', 'outbound_message', ['provider_id'], unique=True,
                    postgresql_where=sa.text('provider_id IS NOT NULL'))
    op.add_column('technician', sa.Column('phone_enc', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.create_index('uq_request_event_arriving', 'request_event', ['request_id', sa.text("(data->>'technician_id')")],
                    unique=True, postgresql_where=sa.text("kind = 'arriving'"))
    op.execute(OUTBOX_FUNCTION)
    op.execute("CREATE TRIGGER request_event_outbox AFTER INSERT ON request_event"
               " FOR EACH ROW EXECUTE FUNCTION request_event_outbox()")


def downgrade() -> None:
    op.execute("DROP TRIGGER request_event_outbox ON request_event")
    op.execute("DROP FUNCTION request_event_outbox()")
    op.drop_index('uq_request_event_arriving', table_name='request_event')
    op.drop_column('technician', 'phone_enc')
    op.drop_index('uq_outbound_message_provider_id', table_name='outbound_message')
    op.drop_index('ix_outbound_message_request', table_name='outbound_message')
    op.drop_index('ix_outbound_message_due', table_name='outbound_message')
    op.drop_table('outbound_message')
