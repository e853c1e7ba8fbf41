"""Keyed hashes get their own key (TOCSIN_HASH_KEY); fresh preference links on request

Revision ID: 5b8e2f1a9c47
Revises: 4a7c2e9d1b30
Create Date: 2026-12-07 21:50:00

"""
import hashlib
import hmac

from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '5b8e2f1a9c47'
down_revision = '4a7c2e9d1b30'
branch_labels = None
depends_on = None


# Spelled out here as the app had them at this revision (app.tokens).
def _fingerprint(key):
    return hmac.new(key.encode(), b"tocsin hash key fingerprint", hashlib.sha256).hexdigest()[:32]


def _address_hash(key, email):
    return hmac.new(key.encode(), f"address:{email.lower()}".encode(), hashlib.sha256).hexdigest()


def _key_of_existing_rows(connection):
    """The key the stored hashes were made with: until now, the secret key. When
    TOCSIN_HASH_KEY is already set, the stored rows tell which of the two made them (a
    hash key that made none of them is refused by the app until it is set right); an
    empty database takes the key configured."""
    config = current_app.config
    secret, hash_key = config.get('SECRET_KEY') or '', config.get('HASH_KEY') or ''
    stored = connection.execute(sa.text(
        "SELECT email, email_hash FROM subscribers WHERE email_hash NOT LIKE 'deleted:%' "
        "ORDER BY id LIMIT 20"
    )).all()
    suppressed = connection.execute(sa.text('SELECT 1 FROM suppressions LIMIT 1')).first()
    if not stored and suppressed is None:
        return hash_key or secret  # nothing hashed yet: the key configured from now on
    for candidate in (hash_key, secret):
        if candidate and stored and all(_address_hash(candidate, e) == h for e, h in stored):
            return candidate
    return secret


OLD_KINDS = ('test', 'confirm', 'goodbye')
NEW_KINDS = (*OLD_KINDS, 'fresh_link')


def _kinds(values):
    return sa.Enum(
        *values, name='outboxkind', native_enum=False, create_constraint=True, length=16
    )


def upgrade():
    settings = op.create_table(
        'instance_settings',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_settings')),
    )
    key = _key_of_existing_rows(op.get_bind())
    op.bulk_insert(settings, [{'name': 'hash_key_fingerprint', 'value': _fingerprint(key)}])

    op.create_table(
        'link_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column(
            'created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_link_requests')),
    )
    with op.batch_alter_table('outbox_messages', schema=None, recreate='always') as batch_op:
        batch_op.alter_column(
            'kind', existing_type=_kinds(OLD_KINDS), type_=_kinds(NEW_KINDS), existing_nullable=False
        )


def downgrade():
    op.execute("DELETE FROM outbox_messages WHERE kind = 'fresh_link'")
    with op.batch_alter_table('outbox_messages', schema=None, recreate='always') as batch_op:
        batch_op.alter_column(
            'kind', existing_type=_kinds(NEW_KINDS), type_=_kinds(OLD_KINDS), existing_nullable=False
        )
    op.drop_table('link_requests')
    op.drop_table('instance_settings')
