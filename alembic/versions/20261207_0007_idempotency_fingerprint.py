"""idempotency fingerprint: a replayed Idempotency-Key returns its request only with the same body

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Rows stored before this revision keep a NULL fingerprint: a body cannot be rebuilt from what a row holds
(the location was resolved, the number encrypted), so their keys are refused for replay rather than
trusted (see core.requests.intake._replay).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('service_request', sa.Column('idempotency_fingerprint',
                                               sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('service_request', 'idempotency_fingerprint')
