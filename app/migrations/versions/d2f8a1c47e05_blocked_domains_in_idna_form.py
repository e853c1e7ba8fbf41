"""Blocked domains: stored in IDNA ASCII form, as addresses are

A domain blocked as typed in Unicode (bücher.example) never matched an address, which is
stored as xn--bcher-kva.example. Such rows are rewritten (or dropped when the ASCII form is
blocked already) and, as blocking does, the active subscribers there become blocklisted.

Revision ID: d2f8a1c47e05
Revises: b7d41e0c9a36
Create Date: 2026-11-27 01:00:00

"""
from alembic import op
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email


# revision identifiers, used by Alembic.
revision = 'd2f8a1c47e05'
down_revision = 'b7d41e0c9a36'
branch_labels = None
depends_on = None

blocked = sa.table('blocked_domains', sa.column('id', sa.Integer), sa.column('domain', sa.String))
subscribers = sa.table('subscribers', sa.column('email', sa.String), sa.column('status', sa.String))


def _ascii(domain):
    try:
        valid = validate_email(f'postmaster@{domain}', check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None  # left as it is; an organiser can remove it
    return (valid.ascii_email or valid.normalized).lower().rpartition('@')[2]


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(blocked.c.id, blocked.c.domain)).all()
    stored = {domain for _id, domain in rows}
    for row_id, domain in rows:
        if domain.isascii():
            continue
        ascii_domain = _ascii(domain)
        if ascii_domain is None:
            continue
        if ascii_domain in stored:
            connection.execute(sa.delete(blocked).where(blocked.c.id == row_id))
        else:
            connection.execute(sa.update(blocked).where(blocked.c.id == row_id).values(domain=ascii_domain))
            stored.add(ascii_domain)
        connection.execute(
            sa.update(subscribers)
            .where(subscribers.c.email.endswith(f'@{ascii_domain}'), subscribers.c.status == 'active')
            .values(status='blocklisted')
        )


def downgrade():
    pass  # the ASCII form is as good a block as before, and better
