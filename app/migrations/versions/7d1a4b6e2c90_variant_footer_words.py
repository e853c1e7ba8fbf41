"""Variants: footer words the organiser writes (for languages without a catalogue)

Revision ID: 7d1a4b6e2c90
Revises: 6c9f3a2b0d58
Create Date: 2026-12-07 22:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d1a4b6e2c90'
down_revision = '6c9f3a2b0d58'
branch_labels = None
depends_on = None

COLUMNS = ('footer_reason', 'unsubscribe_label', 'preferences_label')


def upgrade():
    with op.batch_alter_table('variants', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.String(length=500), nullable=False, server_default='')
            )


def downgrade():
    with op.batch_alter_table('variants', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
