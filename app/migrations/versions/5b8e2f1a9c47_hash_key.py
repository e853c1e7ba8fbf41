"""Keyed hashes get their own key (TOCSIN_HASH_KEY)

Revision ID: 5b8e2f1a9c47
Revises: 4a7c2e9d1b30
Create Date: 2026-12-07 21:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b8e2f1a9c47'
down_revision = '4a7c2e9d1b30'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
