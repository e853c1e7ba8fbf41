"""The return path: mail and provider events received, what they did, bounce scores

Revision ID: c5e7f9a1b3d2
Revises: a4d9e6b2c815
Create Date: 2026-12-08 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5e7f9a1b3d2'
down_revision = 'a4d9e6b2c815'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table('inbound_messages',
    sa.Column('id', BigId, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('envelope_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('queued', 'claimed', 'applied', 'ignored', 'failed', name='inboundstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('digest', name=op.f('uq_inbound_messages_digest'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_messages_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_received_at'), ['received_at'], unique=False)

    op.create_table('return_events',
    sa.Column('id', BigId, nullable=False),
    sa.Column('kind', sa.Enum('hard', 'soft', 'policy', 'complaint', 'unsubscribe', name='returnkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('delivery_id', BigId, nullable=True),
    sa.Column('inbound_id', BigId, nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status_code', sa.String(length=16), nullable=False),
    sa.Column('diagnostic', sa.Text(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_return_events_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_messages.id'], name=op.f('fk_return_events_inbound_id_inbound_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_return_events_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_events'))
    )
    with op.batch_alter_table('return_events', schema=None) as batch_op:
        batch_op.create_index('ix_return_events_subscriber_id', ['subscriber_id', 'id'], unique=False)
        batch_op.create_index('ix_return_events_campaign_id', ['campaign_id', 'kind'], unique=False)
        batch_op.create_index('ix_return_events_created_at', ['created_at'], unique=False)

    op.create_table('bounce_scores',
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_bounce_scores_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subscriber_id', name=op.f('pk_bounce_scores'))
    )
    # Plain ADD COLUMN on both databases: no rebuild of a large ledger.
    op.add_column('deliveries', sa.Column('returned', sa.String(length=16), nullable=True))
    op.add_column('deliveries', sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('returned_at')
        batch_op.drop_column('returned')
    op.drop_table('bounce_scores')
    op.drop_table('return_events')
    op.drop_table('inbound_messages')
