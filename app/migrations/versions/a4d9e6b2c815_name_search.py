"""Subscribers: find a name by any part of it, through an index

PostgreSQL: the pg_trgm extension and a GIN trigram index on lower(name), which serves
``lower(name) LIKE '%…%'``. SQLite: an FTS5 table with the trigram tokenizer holding the
names (external content: the rows stay in ``subscribers``), kept in step by triggers.
Neither is in the models: ``app.search_index`` names them, and the schema comparison leaves
them out. A later migration that rebuilds ``subscribers`` on SQLite (batch mode) drops these
triggers with the old table and must create them again.

Revision ID: a4d9e6b2c815
Revises: 8e2b5c7f3d01
Create Date: 2026-12-08 00:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a4d9e6b2c815'
down_revision = '8e2b5c7f3d01'
branch_labels = None
depends_on = None

POSTGRESQL = [
    'CREATE EXTENSION IF NOT EXISTS pg_trgm',
    'CREATE INDEX ix_subscribers_name_trgm ON subscribers USING gin (lower(name) gin_trgm_ops)',
]
SQLITE = [
    "CREATE VIRTUAL TABLE subscriber_names USING fts5("
    "name, content='subscribers', content_rowid='id', tokenize='trigram')",
    "INSERT INTO subscriber_names(subscriber_names) VALUES ('rebuild')",
    "CREATE TRIGGER subscriber_names_insert AFTER INSERT ON subscribers BEGIN "
    "INSERT INTO subscriber_names(rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER subscriber_names_delete AFTER DELETE ON subscribers BEGIN "
    "INSERT INTO subscriber_names(subscriber_names, rowid, name) "
    "VALUES ('delete', old.id, old.name); END",
    "CREATE TRIGGER subscriber_names_update AFTER UPDATE OF name ON subscribers BEGIN "
    "INSERT INTO subscriber_names(subscriber_names, rowid, name) "
    "VALUES ('delete', old.id, old.name); "
    "INSERT INTO subscriber_names(rowid, name) VALUES (new.id, new.name); END",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    for statement in {'postgresql': POSTGRESQL, 'sqlite': SQLITE}.get(dialect, []):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_subscribers_name_trgm')
    elif dialect == 'sqlite':
        for trigger in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER IF EXISTS subscriber_names_{trigger}')
        op.execute('DROP TABLE IF EXISTS subscriber_names')
