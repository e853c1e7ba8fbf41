"""System emails (subscription confirmation, goodbye, a fresh preference link): editable
templates, one per language.

Every public-page language has a built-in wording (English here, the others in the
Flask-Babel catalogues); an organiser's saved wording replaces it.
A reader gets their language, else its primary language, else the list's default language
(then its primary), else English. The messages use
the built-in layout and the same sandbox as campaigns.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.errors import InvalidInput
from app.extensions import db
from app.i18n import PUBLIC_LANGUAGES
from app.languages import fallback_chain, normalize_tag
from app.messages.composing import DEFAULT_LAYOUT, Outgoing, Sender
from app.messages.previews import read_message
from app.models import SystemEmail
from app.models.base import utcnow
from emails.dkim import sign as dkim_sign
from emails.errors import RenderError
from emails.mime import build_message, format_address
from emails.rendering import CONTEXT_NAMES, CompiledVariant, VariantSource
from emails.sandbox import where_written


class Kind(enum.StrEnum):
    CONFIRM = "confirm"  # double opt-in: the link that confirms a subscription
    GOODBYE = "goodbye"  # after someone leaves a list from its page or the preference centre
    FRESH_LINK = "fresh_link"  # a new preference-centre link, asked for on the public form


# What each kind's template may use besides the usual values.
EXTRA_NAMES = {
    Kind.CONFIRM: {"lists", "confirm_url"},
    Kind.GOODBYE: {"lists"},
    Kind.FRESH_LINK: {"lists"},  # and preferences_url, one of the usual values
}


def N_(message: str) -> str:  # noqa: N802 - the gettext marker name
    """Mark a string for the catalogues without translating it here."""
    return message


# English wording; the catalogues (app/translations) hold every other built-in language.
BUILT_IN: dict[Kind, tuple[str, str]] = {
    Kind.CONFIRM: (
        N_("Please confirm: {{ lists }}"),
        N_(
            "Hello {{ name | default('there') }},\n\nsomeone, hopefully you, asked to "
            "receive **{{ lists }}** at this address. To confirm, open this "
            "link:\n\n[Yes, subscribe me]({{ confirm_url }})\n\nIf it was not you, "
            "ignore this message: you will get nothing more from us."
        ),
    ),
    Kind.GOODBYE: (
        N_("You have left {{ lists }}"),
        N_(
            "Hello {{ name | default('there') }},\n\nyou will receive no more mail "
            "from **{{ lists }}**. If this was a mistake, you can subscribe again "
            "at any time."
        ),
    ),
    Kind.FRESH_LINK: (
        N_("Your link to your settings"),
        N_(
            "Hello {{ name | default('there') }},\n\nsomeone, hopefully you, asked for a "
            "new link to your settings for **{{ lists }}**. Here it is:\n\n"
            "[My settings]({{ preferences_url }})"
            "\n\nIt works for six months. If it was not you, ignore this message: nothing "
            "has changed."
        ),
    ),
}
SHIPPED_LANGUAGES = PUBLIC_LANGUAGES


@dataclass(frozen=True)
class Wording:
    kind: Kind
    language: str
    subject: str
    body: str
    custom: bool  # an organiser's wording rather than the built-in one


def kind_of(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise InvalidInput(
            f"system emails are {', '.join(k.value for k in Kind)}, not {value!r}", "kind"
        ) from None


def wording(kind: Kind, language: str, list_language: str | None = None) -> Wording:
    """The wording a reader of ``language`` gets: theirs, its primary language's, else the
    list's ``list_language`` (or its primary language's), else English."""
    saved = {
        row.language: row
        for row in db.session.scalars(select(SystemEmail).where(SystemEmail.kind == kind.value))
    }
    for candidate in fallback_chain(language, list_language, default="en"):
        if candidate in saved:
            row = saved[candidate]
            return Wording(kind, candidate, row.subject, row.body, True)
        if candidate in SHIPPED_LANGUAGES:
            with force_locale(candidate):
                subject, body = (gettext(text) for text in BUILT_IN[kind])
            return Wording(kind, candidate, subject, body, False)
    raise AssertionError("English is always built in")


def all_wordings() -> list[Wording]:
    """Every kind in every shipped or customised language."""
    saved = {(r.kind, r.language) for r in db.session.scalars(select(SystemEmail))}
    languages = sorted({*SHIPPED_LANGUAGES, *(language for _k, language in saved)})
    return [wording(kind, language) for kind in Kind for language in languages]


def save(kind: Kind, language: str, subject: str, body: str) -> SystemEmail:
    """Save an organiser's wording; refuse one that does not compile and render."""
    language = normalize_tag(language)
    if not subject.strip() or not body.strip():
        raise InvalidInput("a system email needs a subject and a body", "body")
    sample = sample_values(kind, language)
    try:
        compiled(kind, language, subject, body).render(sample)
    except RenderError as exc:
        names = CONTEXT_NAMES | EXTRA_NAMES[kind]
        exc = where_written(exc, {"subject": subject, "body": body}, sample, names)
        raise InvalidInput(str(exc), "body") from None
    row = db.session.scalars(
        select(SystemEmail).where(SystemEmail.kind == kind.value, SystemEmail.language == language)
    ).first()
    if row is None:
        row = SystemEmail(kind=kind.value, language=language)
        db.session.add(row)
    row.subject, row.body = subject.strip(), body
    db.session.commit()
    return row


def reset(kind: Kind, language: str) -> None:
    """Forget the organiser's wording: the built-in one (or English) applies again."""
    for row in db.session.scalars(
        select(SystemEmail).where(SystemEmail.kind == kind.value, SystemEmail.language == language)
    ):
        db.session.delete(row)
    db.session.commit()


def compiled(kind: Kind, language: str, subject: str, body: str) -> CompiledVariant:
    source = VariantSource(language, subject, "", body, "markdown")
    return CompiledVariant(DEFAULT_LAYOUT, source, "", CONTEXT_NAMES | EXTRA_NAMES[kind])


def sample_values(kind: Kind, language: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "email": "reader@example.org",
        "language": language,
        "attributes": {},
        "lists": "Partner collectives",
    }
    if kind is Kind.CONFIRM:
        values["confirm_url"] = "https://example.invalid/c/sample"
    if kind is Kind.FRESH_LINK:
        values["preferences_url"] = "https://example.invalid/p/sample"
    return values


def build(
    kind: Kind,
    language: str,
    to_address: str,
    values: dict[str, Any],
    config: dict[str, Any],
    list_language: str | None = None,
) -> Outgoing:
    """Render and assemble one system email to ``to_address`` (no footer, no list headers);
    ``list_language`` is the list's default, for readers whose language has no wording."""
    text = wording(kind, language, list_language)
    rendered = compiled(kind, text.language, text.subject, text.body).render(
        {"email": to_address, "language": language, "attributes": {}, **values}
    )
    sender = Sender.of(str(config["MAIL_FROM"]), config)
    message_id = f"<{secrets.token_hex(16)}@{sender.domain}>"
    data = build_message(
        sender=sender.header,
        recipient=format_address(str(values.get("name", "")), to_address),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=utcnow(),
        extra_headers={"Content-Language": text.language, "Auto-Submitted": "auto-generated"},
    )
    if sender.dkim is not None:
        data = dkim_sign(data, sender.dkim)
    return Outgoing(text.language, message_id, sender.address, to_address, data)


def preview(kind: Kind, language: str, config: dict[str, Any]) -> tuple[str, str]:
    """Return the subject and HTML a reader of ``language`` would get, with sample values."""
    sample = build(kind, language, "reader@example.org", sample_values(kind, language), config)
    shown = read_message(sample, "reader@example.org")
    return shown.subject, shown.html
