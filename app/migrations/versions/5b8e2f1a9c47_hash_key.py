"""Keyed hashes get their own key (TOCSIN_HASH_KEY)

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


# Spelled out here as the app had them at this revision (app.services.tokens).
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


def upgrade():
    settings = op.create_table(
        'instance_settings',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_settings')),
    )
    key = _key_of_existing_rows(op.get_bind())
    op.bulk_insert(settings, [{'name': 'hash_key_fingerprint', 'value': _fingerprint(key)}])


def downgrade():
    op.drop_table('instance_settings')
