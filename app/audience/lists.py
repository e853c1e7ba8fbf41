"""Mailing lists."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from app.audience import counts
from app.errors import (
    Conflict,
    InvalidInput,
    Malformed,
    NotFound,
    Required,
    TooLong,
    member_of,
)
from app.extensions import db
from app.languages import normalize_tag
from app.models import ListVisibility, MailingList, OptIn, Subscription, SubscriptionStatus

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_NAME = 200


def checked_translations(
    rows: Iterable[tuple[str, str, str]],
) -> dict[str, dict[str, str]]:
    """``(language, name, description)`` rows as typed → ``{tag: {"name", "description"}}``.

    Blank rows are dropped; a row with words and no language, an unknown or repeated
    language, or a name over 200 characters raises ``InvalidInput`` naming the row's
    language, so nothing is stored half-way.
    """
    found: dict[str, dict[str, str]] = {}
    for language, name, description in rows:
        language, name, description = language.strip(), name.strip(), description.strip()
        if not (language or name or description):
            continue
        if not language:
            raise Required(
                "translations", message=f"give the language of the name {name or description!r}"
            )
        tag = normalize_tag(language)
        if tag in found:
            raise InvalidInput(f"the language {tag} is given twice", "translations")
        if not (name or description):
            raise Required(
                "translations", message=f"give a name or a description in {tag}, or clear its row"
            )
        if len(name) > MAX_NAME:
            raise TooLong("translations", f"the name in {tag}", MAX_NAME)
        found[tag] = {"name": name, "description": description}
    return found


def create_list(
    slug: str,
    name: str,
    *,
    description: str = "",
    visibility: str = "private",
    optin: str = "double",
    default_language: str = "en",
) -> MailingList:
    """Create a list; the slug is its stable name in URLs and the CLI."""
    slug = slug.strip()
    if not _SLUG.match(slug):
        raise Malformed("slug", slug, "a slug: use lowercase letters, digits and dashes")
    settings = _settings(name, description, visibility, optin, default_language)
    if db.session.scalar(select(MailingList).where(MailingList.slug == slug)):
        raise Conflict(f"a list with slug {slug!r} exists already")
    mailing_list = MailingList(slug=slug, **settings)
    db.session.add(mailing_list)
    db.session.commit()
    return mailing_list


def update_list(
    list_id: int,
    name: str,
    *,
    description: str,
    visibility: str,
    optin: str,
    default_language: str,
    translations: Iterable[tuple[str, str, str]] | None = None,
) -> MailingList:
    """Change a list's settings (not its slug: links and commands use it); ``translations``
    (``(language, name, description)`` rows, see ``checked_translations``) replace the
    list's names in other languages when given."""
    mailing_list = get(list_id)
    settings = _settings(name, description, visibility, optin, default_language)
    if translations is not None:
        settings["translations"] = checked_translations(translations)
    for key, value in settings.items():
        setattr(mailing_list, key, value)
    db.session.commit()
    return mailing_list


def _settings(
    name: str, description: str, visibility: str, optin: str, default_language: str
) -> dict[str, object]:
    """A list's settings, checked; raise ``InvalidInput`` naming the bad field."""
    if not name.strip():
        raise Required("name", "a list")
    visibility_value = member_of(
        ListVisibility,
        visibility,
        "visibility",
        message=f"{visibility!r} is not a valid ListVisibility",
    )
    optin_value = member_of(OptIn, optin, "optin", message=f"{optin!r} is not a valid OptIn")
    return {
        "name": name.strip(),
        "description": description,
        "visibility": visibility_value,
        "optin": optin_value,
        "default_language": normalize_tag(default_language),
    }


def get(list_id: int) -> MailingList:
    """Return the list with this id or raise ``NotFound``."""
    found = db.session.get(MailingList, list_id)
    if found is None:
        raise NotFound(f"no list with id {list_id}")
    return found


def get_by_slug(slug: str) -> MailingList:
    """Return the list with this slug or raise ``NotFound``."""
    found = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        raise NotFound(f"no list with slug {slug!r}")
    return found


def all_lists() -> list[MailingList]:
    """Every list, by name."""
    return list(db.session.scalars(select(MailingList).order_by(MailingList.name)))


def lists_with_counts() -> list[tuple[MailingList, int]]:
    """Return every list with its number of confirmed subscriptions, by name.

    The sizes come from ``counts.list_sizes``: cached for a few seconds, not a table scan
    on every page view.
    """
    sizes = counts.list_sizes()
    return [(m, sizes.get(m.id, 0)) for m in all_lists()]


def first_language(lists: Iterable[MailingList]) -> str | None:
    """The default language of the first of these lists (by id); ``None`` for no list.

    A public page or system email that concerns several lists speaks this one's language
    when neither the reader nor their browser names one we speak.
    """
    first = min(lists, key=lambda mailing_list: mailing_list.id, default=None)
    return first.default_language if first is not None else None


def first_language_of_ids(list_ids: Iterable[int]) -> str | None:
    """``first_language`` for list ids (as a confirmation link names them)."""
    ids = list(list_ids)
    if not ids:
        return None
    return db.session.scalar(
        select(MailingList.default_language)
        .where(MailingList.id.in_(ids))
        .order_by(MailingList.id)
        .limit(1)
    )


def subscriber_language(subscriber_id: int) -> str | None:
    """The default language of the first list (by id) the subscriber is subscribed to
    (confirmed); ``None`` when they are on none."""
    return db.session.scalar(
        select(MailingList.default_language)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
        .order_by(MailingList.id)
        .limit(1)
    )
