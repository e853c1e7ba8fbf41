"""Provider webhooks: the one-time tokens already seen, so that a replay is refused

Revision ID: e3a9c6f2b481
Revises: c5e7f9a1b3d2
Create Date: 2026-12-08 03:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3a9c6f2b481'
down_revision = 'c5e7f9a1b3d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_tokens',
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('token', sa.String(length=128), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'token', name=op.f('pk_webhook_tokens'))
    )
    with op.batch_alter_table('webhook_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_tokens_seen_at'), ['seen_at'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_tokens_seen_at'))

    op.drop_table('webhook_tokens')
