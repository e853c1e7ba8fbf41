"""The migrations build exactly the schema the models describe, on this database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.search_index import include_name


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"render_as_batch": True, "include_name": include_name}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_domains_blocked_in_unicode_are_rewritten_and_take_effect(tmp_path):
    """The data step of d2f8a1c47e05, on a database of its own (SQLite) at the revision
    before, holding what that revision could store."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app

    other = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}"}
    )
    with other.app_context():
        upgrade(revision="b7d41e0c9a36")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO blocked_domains (domain, reason, created_at) VALUES "
                    "('bücher.example', '', '2026-01-01'), ('café.example', '', '2026-01-01'), "
                    "('xn--caf-dma.example', '', '2026-01-01'), ('plain.example', '', '2026-01-01')"
                )
            )
            for n, (email, status) in enumerate(
                [
                    ("ann@xn--bcher-kva.example", "active"),
                    ("bob@xn--bcher-kva.example", "bounced"),
                    ("eve@elsewhere.example", "active"),
                ]
            ):
                connection.execute(
                    text(
                        "INSERT INTO subscribers (uid, email, email_hash, name, language, status, "
                        "attributes, consent_source, created_at) VALUES "
                        "(:uid, :email, :hash, '', 'en', :status, '{}', '', '2026-01-01')"
                    ),
                    {"uid": f"u{n}", "email": email, "hash": f"h{n}", "status": status},
                )
        upgrade(revision="d2f8a1c47e05")
        with db.engine.connect() as connection:
            domains = connection.execute(text("SELECT domain FROM blocked_domains")).scalars().all()
            statuses = dict(connection.execute(text("SELECT email, status FROM subscribers")).all())
        db.engine.dispose()
    assert sorted(domains) == ["plain.example", "xn--bcher-kva.example", "xn--caf-dma.example"]
    assert statuses == {
        "ann@xn--bcher-kva.example": "blocklisted",
        "bob@xn--bcher-kva.example": "bounced",
        "eve@elsewhere.example": "active",
    }
