"""D"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from app.addresses import normalize_email
from app.audience.fields import is_country_code
from app.errors import (
    Conflict,
    InvalidInput,
    Malformed,
    NoSuch,
    NotFound,
    NotOneOf,
    Required,
    member_of,
)
from app.extensions import db
from app.languages import normalize_tag
from app.mailservers import parse_smtp_servers
from app.messages import layouts
from app.messages.composing import LISTS_SLOT, compile_source, sample_context
from app.models import (
    BodyFormat,
    Campaign,
    CampaignStatus,
    Group,
    MailingList,
    Template,
    Variant,
)
from emails.errors import RenderError
from emails.mime import display_address, sender_control_characters, split_address
from emails.rendering import CONTEXT_NAMES, VariantSource
from emails.sandbox import where_written

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


def get(campaign_id: int) -> Campaign:
    """Return the campaign or raise ``NotFound``."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


def create_campaign(name: str, **settings: Any) -> Campaign:
    """Create a draft campaign addressed to lists (narrowed by filters); the settings and
    their checks are those of ``_settings``."""
    campaign = Campaign(**_settings(name, **settings))
    db.session.add(campaign)
    db.session.commit()
    return campaign


def update_campaign(campaign_id: int, name: str, **settings: Any) -> Campaign:
    """Change a draft's (or scheduled campaign's) settings: the same ones, and the same
    checks, as ``create_campaign``."""
    campaign = editable(campaign_id)
    for key, value in _settings(name, **settings).items():
        setattr(campaign, key, value)
    db.session.commit()
    return campaign


def editable(campaign_id: int) -> Campaign:
    """Return the campaign if it is a draft or scheduled, else raise ``Conflict``."""
    campaign = get(campaign_id)
    if campaign.status not in EDITABLE:
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status.value}; it can no longer change"
        )
    return campaign


def _settings(
    name: str,
    *,
    lists: list[MailingList],
    default_language: str = "en",
    from_address: str = "",
    template: Template | None = None,
    fallbacks: list[str] | None = None,
    smtp_server: str | None = None,
    filters: dict[str, list[Any]] | None = None,
    archive: bool = False,
) -> dict[str, Any]:
    """Check a campaign's settings and return them cleaned, as model attributes."""
    if not name.strip():
        raise Required("name", "a campaign")
    if not lists:
        raise Required("lists", message="choose at least one list to send to")
    sender = check_sender(from_address, "From") if from_address.strip() else ""
    if template is not None:
        layouts.check_usable(template)
    servers = [server.name for server in parse_smtp_servers(current_app.config["SMTP_URL"])]
    if smtp_server and smtp_server.strip() not in servers:
        raise NoSuch(
            "smtp_server",
            "SMTP server",
            repr(smtp_server.strip()),
            by="is named",
            message=f"no SMTP server is named {smtp_server.strip()!r}; "
            f"configured: {', '.join(servers)}",
        )
    return {
        "name": name.strip(),
        "lists": lists,
        "default_language": normalize_tag(default_language),
        "from_address": sender,
        "template": template,
        "fallbacks": [normalize_tag(tag) for tag in fallbacks or []],
        "smtp_server": (smtp_server or "").strip() or None,
        "filters": clean_filters(filters or {}),
        "archive": archive,
    }


def check_sender(value: str, label: str) -> str:
    """Return a sender (``Name <a@b.org>``) as it is stored and shown, or refuse it.

    A name holding CR, LF, NUL or another control character (also inside an encoded-word)
    is refused, never rewritten into a different sender.
    """
    display_name, address = split_address(value)
    if bad := sender_control_characters(value):
        raise InvalidInput(
            f"{label}: a sender may not hold control characters such as line breaks "
            f"or NUL (found {', '.join(bad)})",
            "from_address",
        )
    if not address or "@" not in address:
        raise Malformed(
            "from_address",
            value,
            "a sender such as 'Name <a@b.org>'",
            message=f"{label}: {value!r} is not a sender such as 'Name <a@b.org>'",
        )
    try:
        address = normalize_email(address)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc}", "from_address") from None
    return display_address(display_name, address)


FILTER_KEYS = ("languages", "countries", "groups")


def clean_filters(filters: dict[str, Any]) -> dict[str, list[Any]]:
    """Validate audience filters: language tags, ISO country codes, existing group ids."""
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise NotOneOf(
            "filters",
            ", ".join(sorted(unknown)),
            FILTER_KEYS,
            message=f"unknown filter {', '.join(sorted(unknown))}; "
            f"filters are {', '.join(FILTER_KEYS)}",
        )
    cleaned: dict[str, list[Any]] = {}
    if languages := filters.get("languages"):
        cleaned["languages"] = sorted({normalize_tag(str(tag)) for tag in languages})
    if countries := filters.get("countries"):
        codes = sorted({str(code).strip().upper() for code in countries})
        bad = [code for code in codes if not is_country_code(code)]
        if bad:
            raise Malformed(
                "countries",
                ", ".join(bad),
                "two-letter country codes",
                message=f"{', '.join(bad)}: countries are two-letter codes such as UA or AR",
            )
        cleaned["countries"] = codes
    if groups := filters.get("groups"):
        try:
            ids = sorted({int(group) for group in groups})
        except (TypeError, ValueError):
            raise Malformed(
                "groups", groups, "group ids", message=f"groups are given by id, not {groups!r}"
            ) from None
        found = set(db.session.scalars(select(Group.id).where(Group.id.in_(ids))))
        if missing := [str(group) for group in ids if group not in found]:
            raise NoSuch("groups", "group", ", ".join(missing))
        cleaned["groups"] = ids
    return cleaned


def save_variant(
    campaign_id: int,
    language: str,
    *,
    subject: str,
    body: str,
    preheader: str = "",
    body_format: str = "markdown",
    ready: bool = True,
    footer: tuple[str, str, str] = ("", "", ""),
) -> Variant:
    """Create or replace the campaign's variant in one language; refuse broken templates.

    ``footer``: the organiser's footer words (reason, unsubscribe, preferences), all three
    or none, for a language without a catalogue; ``%(lists)s`` in the reason is the lists.
    """
    campaign = editable(campaign_id)
    language = normalize_tag(language)
    if not subject.strip():
        raise Required("subject", "a variant")
    footer = _footer_words(footer)
    fmt = member_of(
        BodyFormat,
        body_format,
        "body_format",
        message=f"body format must be markdown or html, not {body_format!r}",
    )
    source = VariantSource(language, subject, preheader, body, fmt.value)
    sample = sample_context(language)
    try:
        # Compile and render once now, so a broken template is refused at save time.
        rendered = compile_source(campaign, source).render(sample)
    except RenderError as exc:
        parts = {"subject": subject, "body": body}
        raise InvalidInput(str(where_written(exc, parts, sample, CONTEXT_NAMES)), "body") from None
    layouts.check_unsubscribe_link(campaign.template, rendered.html, sample)
    variant = next((v for v in campaign.variants if v.language == language), None)
    if variant is None:
        variant = Variant(language=language)
        campaign.variants.append(variant)
    variant.subject, variant.preheader, variant.body = subject.strip(), preheader.strip(), body
    variant.body_format, variant.ready = fmt, ready
    variant.footer_reason, variant.unsubscribe_label, variant.preferences_label = footer
    db.session.commit()
    return variant


def _footer_words(words: tuple[str, str, str]) -> tuple[str, str, str]:
    """Check the organiser's footer words: all three or none, each on one line."""
    reason, unsubscribe, preferences = (" ".join(w.split()) for w in words)
    if any((reason, unsubscribe, preferences)) and not all((reason, unsubscribe, preferences)):
        raise InvalidInput(
            "footer words: write all three (the reason, Unsubscribe and Preferences) or none",
            "footer_reason",
        )
    if any(len(w) > 500 for w in (reason, unsubscribe, preferences)):
        raise InvalidInput("footer words: each is at most 500 characters", "footer_reason")
    if reason and reason.replace(LISTS_SLOT, "").count("%"):
        raise InvalidInput(
            f"footer words: the reason may hold {LISTS_SLOT} (the list names) and no other %",
            "footer_reason",
        )
    return reason, unsubscribe, preferences


def all_campaigns() -> list[Campaign]:
    """Return every campaign, newest first."""
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc())))
