"""Plain factory functions over the real services."""

from __future__ import annotations

import itertools

from app.models import Campaign, MailingList, Subscriber
from app.services import campaigns, lists, subscribers

_numbers = itertools.count(1)


def make_list(slug: str | None = None, name: str | None = None, **options: str) -> MailingList:
    number = next(_numbers)
    return lists.create_list(slug or f"list-{number}", name or f"List {number}", **options)


def make_subscriber(
    email: str, *, language: str = "en", lists: list[MailingList], name: str = ""
) -> Subscriber:
    return subscribers.add_subscriber(email, lists=lists, language=language, name=name)


def make_campaign(
    variants: dict[str, str | tuple[str, str]],
    *,
    lists: list[MailingList] | None = None,
    default_language: str = "en",
    fallbacks: list[str] | None = None,
) -> Campaign:
    """Create a campaign; a variant is a subject, or a (subject, Markdown body) pair."""
    targets = lists or [make_list()]
    campaign = campaigns.create_campaign(
        f"Campaign {next(_numbers)}",
        lists=targets,
        default_language=default_language,
        fallbacks=fallbacks,
    )
    for language, content in variants.items():
        subject, body = content if isinstance(content, tuple) else (content, f"Body in {language}")
        campaigns.save_variant(campaign.id, language, subject=subject, body=body)
    return campaign
