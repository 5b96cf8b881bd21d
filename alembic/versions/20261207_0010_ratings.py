"""ratings: one per completed request, 1-5 stars and an optional comment

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:00:00

"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('stars', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('stars BETWEEN 1 AND 5', name='ck_rating_stars'),
    sa.ForeignKeyConstraint(['request_id'], ['service_request.id'], ),
    sa.ForeignKeyConstraint(['technician_id'], ['technician.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', name='uq_rating_request')
    )
    op.create_index('ix_rating_created_at', 'rating', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rating_created_at', table_name='rating')
    op.drop_table('rating')
