"""actor id and role on the audit trail and the request timeline; free text of already anonymised requests removed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00

The trail named who acted by display name only, which two accounts can share and an admin can
change: the account id and its role are now kept beside it. No foreign key: the trail must outlive
the account. Existing rows keep NULL (who acted then is not known by id).

Requests anonymised before this revision kept their cancel reason and the free text of their
timeline (notes, what was fitted): removed here once, as retention and erasure now do.
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# As core.privacy.retention.KEPT_EVENT_DATA at this revision.
_KEPT = ("technician_id", "technician", "eta_minutes", "reassigned", "priority", "quote_pence")


def upgrade() -> None:
    for table in ("audit_event", "request_event"):
        op.add_column(table, sa.Column('actor_id', sa.Integer(), nullable=True))
        op.add_column(table, sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    op.execute("UPDATE service_request SET cancel_reason = NULL"
               " WHERE customer_name = '(erased)' AND cancel_reason IS NOT NULL")
    keep = ", ".join(f"'{k}'" for k in _KEPT)
    op.execute(
        "UPDATE request_event AS e SET data = (SELECT coalesce(jsonb_object_agg(d.key, d.value), '{}'::jsonb)"
        f" FROM jsonb_each(e.data) AS d WHERE d.key IN ({keep}))"
        " FROM service_request AS r WHERE r.id = e.request_id AND r.customer_name = '(erased)'"
        f" AND EXISTS (SELECT 1 FROM jsonb_object_keys(e.data) AS k WHERE k NOT IN ({keep}))"
    )


def downgrade() -> None:
    for table in ("request_event", "audit_event"):
        op.drop_column(table, 'actor_role')
        op.drop_column(table, 'actor_id')
