"""Organiser sessions kept on the server, so that they can be ended

Revision ID: 6c9f3a2b0d58
Revises: 5b8e2f1a9c47
Create Date: 2026-12-07 21:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6c9f3a2b0d58'
down_revision = '5b8e2f1a9c47'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
