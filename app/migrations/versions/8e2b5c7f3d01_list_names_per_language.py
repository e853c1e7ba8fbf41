"""Lists: a name and description per language

Revision ID: 8e2b5c7f3d01
Revises: 7d1a4b6e2c90
Create Date: 2026-12-07 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8e2b5c7f3d01'
down_revision = '7d1a4b6e2c90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailing_lists', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('translations', sa.JSON(), nullable=False, server_default='{}')
        )


def downgrade():
    with op.batch_alter_table('mailing_lists', schema=None) as batch_op:
        batch_op.drop_column('translations')
