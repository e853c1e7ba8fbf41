"""Plain factory functions over the real services."""

from __future__ import annotations

import itertools

from app.audience import lists, subscribers
from app.campaigns import drafts
from app.demo import _read_call
from app.messages import layouts
from app.models import Campaign, Group, MailingList, Subscriber

_numbers = itertools.count(1)


def make_list(slug: str | None = None, name: str | None = None, **options: str) -> MailingList:
    number = next(_numbers)
    return lists.create_list(slug or f"list-{number}", name or f"List {number}", **options)


def make_subscriber(
    email: str,
    *,
    language: str = "en",
    lists: list[MailingList],
    name: str = "",
    group: Group | None = None,
    country: str | None = None,
) -> Subscriber:
    return subscribers.add_subscriber(
        email, lists=lists, language=language, name=name, group=group, country=country
    )


def make_group(name: str, country: str | None = None) -> Group:
    from app.extensions import db

    group = Group(name=name, country=country)
    db.session.add(group)
    db.session.commit()
    return group


def make_campaign(
    variants: dict[str, str | tuple[str, str]],
    *,
    lists: list[MailingList] | None = None,
    default_language: str = "en",
    fallbacks: list[str] | None = None,
    **options: object,
) -> Campaign:
    """Create a campaign; a variant is a subject, or a (subject, Markdown body) pair."""
    targets = lists or [make_list()]
    campaign = drafts.create_campaign(
        f"Campaign {next(_numbers)}",
        lists=targets,
        default_language=default_language,
        fallbacks=fallbacks,
        **options,  # type: ignore[arg-type]
    )
    for language, content in variants.items():
        subject, body = content if isinstance(content, tuple) else (content, f"Body in {language}")
        drafts.save_variant(campaign.id, language, subject=subject, body=body)
    return campaign


def make_subscribers(
    count: int, *, lists: list[MailingList], prefix: str = "member", language: str = "en"
) -> list[str]:
    """Insert many confirmed subscribers at once (set-based); return their addresses."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import Subscription, SubscriptionStatus
    from app.models.base import new_uid, utcnow
    from app.tokens import hasher as keyed_hasher

    now, hasher = utcnow(), keyed_hasher()
    emails = [f"{prefix}{n:06d}@example.org" for n in range(count)]
    db.session.execute(
        insert(Subscriber),
        [
            {
                "email": e,
                "email_hash": hasher.email_hash(e),
                "uid": new_uid(),
                "language": language,
                "name": "",
                "attributes": {},
                "consent_source": "test",
                "created_at": now,
            }
            for e in emails
        ],
    )
    ids = db.session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails))).all()
    db.session.execute(
        insert(Subscription),
        [
            {
                "subscriber_id": i,
                "list_id": m.id,
                "status": SubscriptionStatus.CONFIRMED,
                "created_at": now,
                "confirmed_at": now,
            }
            for i in ids
            for m in lists
        ],
    )
    db.session.commit()
    return emails


def claim_queued_mail() -> list[int]:
    """Commit the outbox rows queued in this transaction as claimed, as the dispatcher would
    claim them: a running session worker never sees them queued. Returns their ids."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from app.extensions import db
    from app.models import OutboxMessage, OutboxStatus
    from app.models.base import utcnow

    db.session.flush()
    queued = OutboxMessage.status == OutboxStatus.QUEUED
    ids = list(db.session.scalars(select(OutboxMessage.id).where(queued)))
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status=OutboxStatus.CLAIMED, attempts=1, lease_until=utcnow() + timedelta(minutes=2)
        )
    )
    db.session.commit()
    return ids


def full_campaign() -> Campaign:
    partners, press = make_list("partners", "Partners"), make_list("press", "Press")
    kyiv = make_group("Kyiv mutual aid", country="UA")
    layout = layouts.save_template("Plain", layouts.default_layout().replace("#f4f1ea", "#fff"))
    campaign = drafts.create_campaign(
        "Week of action 2027",
        lists=[press, partners],
        default_language="en",
        from_address="Solidarity Collectives <news@example.org>",
        template=layout,
        fallbacks=["pt", "es", "en"],
        smtp_server="main",
        filters={"languages": ["uk", "en"], "countries": ["UA"], "groups": [kyiv.id]},
        archive=True,
    )
    for language in ("en", "uk"):
        subject, preheader, body = _read_call(language)
        drafts.save_variant(campaign.id, language, subject=subject, preheader=preheader, body=body)
    drafts.save_variant(
        campaign.id,
        "es",
        subject="Semana de acción — {{ name | default('amigos') }}",
        preheader="",
        body='<p>Hola</p>\n<p><a href="{{ report_url }}">Cuéntanos</a> "citas" \\ barra</p>',
        body_format="html",
        ready=False,
    )
    return campaign
