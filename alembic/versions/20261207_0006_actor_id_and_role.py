"""actor id and role on the audit trail and the request timeline

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00

The trail named who acted by display name only, which two accounts can share and an admin can
change: the account id and its role are now kept beside it. No foreign key: the trail must outlive
the account. Existing rows keep NULL (who acted then is not known by id).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("audit_event", "request_event"):
        op.add_column(table, sa.Column('actor_id', sa.Integer(), nullable=True))
        op.add_column(table, sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))


def downgrade() -> None:
    for table in ("request_event", "audit_event"):
        op.drop_column(table, 'actor_role')
        op.drop_column(table, 'actor_id')
