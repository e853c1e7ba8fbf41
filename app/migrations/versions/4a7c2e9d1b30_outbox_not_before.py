"""Outbox: a message may wait until a time (a confirmation held back by the one-a-day rule)

Revision ID: 4a7c2e9d1b30
Revises: d2f8a1c47e05
Create Date: 2026-11-27 00:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4a7c2e9d1b30'
down_revision = 'd2f8a1c47e05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('not_before')
