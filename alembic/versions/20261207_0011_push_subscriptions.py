"""push subscriptions: technicians' phones that take Web Push job offers, while signed in

A subscription belongs to the login that made it (session_hash): a phone logged out of stops ringing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00

"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('push_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('p256dh', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('auth', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('session_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['technician_id'], ['technician.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_hash'], ['auth_session.token_hash'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('endpoint', name='uq_push_subscription_endpoint')
    )
    op.create_index('ix_push_subscription_technician', 'push_subscription', ['technician_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_push_subscription_technician', table_name='push_subscription')
    op.drop_table('push_subscription')
