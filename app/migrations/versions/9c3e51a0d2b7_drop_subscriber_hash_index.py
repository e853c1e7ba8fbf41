"""Subscribers: no index on the address hash

Suppressions are looked up by hash in their own table; a subscriber is found by its address.
The index on subscribers' 64-character hashes cost an import more than all other indexes.

Revision ID: 9c3e51a0d2b7
Revises: 285a2c6b74fd
Create Date: 2026-11-27 00:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '9c3e51a0d2b7'
down_revision = '285a2c6b74fd'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscribers_email_hash'))


def downgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscribers_email_hash'), ['email_hash'], unique=False)
