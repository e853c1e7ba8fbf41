"""From a campaign and a subscriber to the bytes on the wire (rendering lives in ``emails``)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from importlib.resources import files
from typing import Any

from babel.support import NullTranslations, Translations
from flask import current_app

from app.addresses import bounce_domain
from app.errors import ConfigError
from app.i18n import supported
from app.languages import choose_variant, fallback_chain
from app.models import Campaign, Subscriber, Variant, list_names
from app.tokens import Hasher, Tokens, hasher, issue_day, secret_fallbacks
from emails.dkim import DkimKey, load_key, pair_keys
from emails.dkim import sign as dkim_sign
from emails.mime import build_message, format_address, split_address
from emails.rendering import CompiledVariant, Rendered, VariantSource, text_direction

DEFAULT_LAYOUT = files("emails").joinpath("layouts/default.html").read_text("utf-8")

LISTS_SLOT = "%(lists)s"
# Isolates (FSI … PDI): the list names keep their own direction inside a text footer.
FIRST_STRONG_ISOLATE, POP_ISOLATE = "\u2068", "\u2069"


def N_(message: str) -> str:  # noqa: N802 - the gettext marker name
    """Mark a string for the catalogues without translating it here."""
    return message


# English wording; the catalogues (app/translations) hold the shipped languages'.
FOOTER_REASON = N_("You receive this as a subscriber to %(lists)s.")
UNSUBSCRIBE = N_("Unsubscribe")
PREFERENCES = N_("Preferences")


@dataclass(frozen=True)
class FooterWords:
    """A variant's footer words and the language they are written in (English when neither
    a catalogue nor the organiser has them); ``%(lists)s`` in the reason is the list names."""

    language: str
    reason: str
    unsubscribe: str
    preferences: str

    def values(self, lists: str) -> dict[str, Any]:
        """Return the template values these words make for ``lists`` (once per variant)."""
        direction = text_direction(self.language)
        before, slot, after = self.reason.partition(LISTS_SLOT)
        isolated = f"{FIRST_STRONG_ISOLATE}{lists}{POP_ISOLATE}" if direction == "rtl" else lists
        return {
            "footer_reason": f"{before}{isolated if slot else ''}{after}",
            "unsubscribe_label": self.unsubscribe,
            "preferences_label": self.preferences,
            "footer": {
                "lang": self.language,
                "dir": direction,
                "before": before,
                "lists": lists if slot else "",
                "after": after,
            },
        }


@functools.lru_cache(maxsize=16)
def catalogue(language: str) -> NullTranslations | None:
    """Return the shipped catalogue of a language (by primary subtag), read once a process."""
    found = supported(language)
    if found is None or found == "en":
        return None
    return Translations.load(str(files("app").joinpath("translations")), [found])


def footer_words(language: str, written: tuple[str, str, str] = ("", "", "")) -> FooterWords:
    """Return a variant's footer words: the organiser's ``written`` (reason, unsubscribe,
    preferences) when given, else the catalogue's in ``language``, else English."""
    if all(written):
        return FooterWords(language, *written)
    speaking = next(tag for tag in fallback_chain(language, default="en") if supported(tag))
    translations = catalogue(speaking)
    if translations is None:  # English: the reader's own (en-GB), or for want of a catalogue
        english = language if speaking in fallback_chain(language) else "en"
        return FooterWords(english, FOOTER_REASON, UNSUBSCRIBE, PREFERENCES)
    return FooterWords(
        language,
        translations.gettext(FOOTER_REASON),
        translations.gettext(UNSUBSCRIBE),
        translations.gettext(PREFERENCES),
    )


def english_footer_languages(variants: list[Variant]) -> list[str]:
    """Return the variants' languages whose footer falls back to English words."""
    return [
        v.language
        for v in variants
        if footer_words(v.language, written_words(v)).language != v.language
    ]


def written_words(variant: Variant) -> tuple[str, str, str]:
    """Return the footer words the organiser wrote for a variant (empty strings if none)."""
    return variant.footer_reason, variant.unsubscribe_label, variant.preferences_label


def layout_for(campaign: Campaign) -> str:
    """Return the campaign's Jinja layout, or the built-in email-client-safe one."""
    return campaign.template.html if campaign.template else DEFAULT_LAYOUT


def text_footer() -> str:
    """Return the Jinja source appended to every text part."""
    return (
        "\n-- \n{{ footer_reason }}\n{{ preferences_label }}: {{ preferences_url }}\n"
        "{{ unsubscribe_label }}: {{ unsubscribe_url }}\n"
    )


def compile_source(campaign: Campaign, source: VariantSource) -> CompiledVariant:
    """Compile one variant with the campaign's layout (premailer runs here, once)."""
    return CompiledVariant(layout_for(campaign), source, text_footer())


@dataclass(frozen=True)
class Recipient:
    """Plain data about one recipient: all that rendering may see."""

    uid: str
    email: str
    name: str
    language: str
    group: str | None
    attributes: dict[str, Any]
    country: str | None = None


@dataclass(frozen=True)
class Links:
    """One recipient's personal links (empty where the campaign has none)."""

    unsubscribe: str
    preferences: str
    report: str
    archive: str = ""


def recipient_of(subscriber: Subscriber) -> Recipient:
    """Return the plain data of a subscriber (for previews and test sends)."""
    group = subscriber.group
    return Recipient(
        uid=subscriber.uid,
        email=subscriber.email,
        name=subscriber.name,
        language=subscriber.language,
        group=group.name if group else None,
        attributes=dict(subscriber.attributes or {}),
        country=subscriber.country or (group.country if group else None),
    )


SAMPLE_RECIPIENT = Recipient(
    uid="sample", email="reader@example.org", name="", language="en", group=None, attributes={}
)
SAMPLE_LINKS = Links(
    unsubscribe="https://example.invalid/u/sample",
    preferences="https://example.invalid/p/sample",
    report="https://example.invalid/r/sample",
    archive="https://example.invalid/archive/sample",
)


def template_context(
    recipient: Recipient, links: Links, footer: dict[str, Any], campaign: str
) -> dict[str, Any]:
    """Return the plain values a template sees for one recipient of a variant; ``footer`` is
    the variant's footer values (``FooterWords.values``, made once per variant)."""
    context: dict[str, Any] = {
        "email": recipient.email,
        "language": recipient.language,
        "attributes": recipient.attributes,
        "campaign": campaign,
        "unsubscribe_url": links.unsubscribe,
        "preferences_url": links.preferences,
        "report_url": links.report,
        "archive_url": links.archive,
        **footer,
    }
    # Absent, not empty, so that `{{ name | default("friends") }}` works as written.
    if recipient.name:
        context["name"] = recipient.name
    if recipient.group:
        context["group"] = recipient.group
    if recipient.country:
        context["country"] = recipient.country
    return context


def sample_context(language: str) -> dict[str, Any]:
    """Return the values a template sees for a made-up recipient (checks and previews)."""
    recipient = replace(SAMPLE_RECIPIENT, language=language)
    return template_context(
        recipient, SAMPLE_LINKS, footer_words(language).values("a list"), "A campaign"
    )


@dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP."""

    language: str
    message_id: str
    envelope_from: str
    recipient: str
    data: bytes


@dataclass(frozen=True)
class Sender:
    """Who a message is from: its From header, address, domain and DKIM key (if any)."""

    header: str
    address: str
    domain: str
    dkim: tuple[DkimKey, ...] | None

    @classmethod
    def of(cls, from_value: str, config: dict[str, Any]) -> Sender:
        """Read ``Name <address>`` and the DKIM settings (keys are loaded once a process)."""
        name, address = split_address(from_value)
        domain = address.rpartition("@")[2] or "localhost"
        keys = dkim_key(
            str(config.get("DKIM_DOMAIN") or domain),
            str(config.get("DKIM_SELECTOR") or ""),
            str(config.get("DKIM_KEY") or ""),
        )
        return cls(format_address(name, address), address, domain, keys)


class MessageFactory:
    """Everything per campaign is prepared once here; ``build`` is the per-recipient path."""

    def __init__(
        self,
        campaign: Campaign,
        config: dict[str, Any],
        preview_languages: set[str] | None = None,
        test: bool = False,
    ) -> None:
        """Compile the ready variants, or just ``preview_languages`` (ready or not).

        ``test`` marks every message as a test: ``[Test]`` before the subject and an
        ``X-Tocsin-Test`` header.

        A factory for previews (``preview_languages``) or test sends makes inert messages,
        whoever the recipient: their personal links lead to a page saying they work in the
        real message, their Message-ID and envelope sender are random, and nothing in them
        is a token any public page accepts. Only a factory for real sends signs tokens and
        hashes, and only once the hash key is the database's (``tokens.check_hash_key``).
        """
        self.test = test
        self.inert = test or preview_languages is not None
        self.campaign_uid = campaign.uid
        self.name = campaign.name
        self.tokens = Tokens(str(config["SECRET_KEY"]), secret_fallbacks(config))
        self.hasher: Hasher | None = None if self.inert else hasher(config)
        self.base_url = str(config["BASE_URL"]).rstrip("/")
        self.archive_url = f"{self.base_url}/archive/{campaign.uid}" if campaign.archive else ""
        sender = Sender.of(campaign.from_address or str(config["MAIL_FROM"]), config)
        self.sender_header, self.domain, self.dkim_key = sender.header, sender.domain, sender.dkim
        self.bounce_domain = bounce_domain(config)
        self.list_names = ", ".join(sorted(m.name for m in campaign.lists))
        self.list_id = f"{campaign.lists[0].slug}.{self.domain}" if campaign.lists else self.domain
        self.default_language = campaign.default_language
        self.fallbacks = list(campaign.fallbacks)
        self.variants: dict[str, CompiledVariant] = {
            v.language: compile_source(
                campaign,
                VariantSource(v.language, v.subject, v.preheader, v.body, v.body_format.value),
            )
            for v in campaign.variants
            if (v.ready if preview_languages is None else v.language in preview_languages)
        }
        # The footer's words per variant, in its language, made here and never per message.
        self.footers: dict[str, dict[str, Any]] = {
            v.language: footer_words(v.language, written_words(v)).values(
                ", ".join(list_names(campaign.lists, v.language))
            )
            for v in campaign.variants
            if v.language in self.variants
        }

    def use_draft(
        self, campaign: Campaign, source: VariantSource, written: tuple[str, str, str]
    ) -> None:
        """Compile an unsaved variant of ``campaign`` as this factory's only one, so that a
        draft renders through the very path a send takes; nothing is stored."""
        self.variants = {source.language: compile_source(campaign, source)}
        names = ", ".join(list_names(campaign.lists, source.language))
        self.footers = {source.language: footer_words(source.language, written).values(names)}

    def language_for(self, recipient_language: str) -> str | None:
        """Return the variant language this recipient gets, or ``None``."""
        return choose_variant(
            recipient_language, self.variants, self.fallbacks, self.default_language
        )

    def links(self, recipient: Recipient, language: str, unsubscribe_token: str, day: int) -> Links:
        """Return the recipient's personal links for this campaign, issued on ``day``."""
        tokens = self.tokens
        return Links(
            unsubscribe=f"{self.base_url}/u/{unsubscribe_token}",
            preferences=f"{self.base_url}/p/{tokens.preferences(recipient.uid, day)}",
            report=f"{self.base_url}/r/{tokens.report(recipient.uid, self.campaign_uid, day)}",
            archive=f"{self.archive_url}/{language}" if self.archive_url else "",
        )

    def inert_parts(self, language: str) -> tuple[Links, str, str]:
        """Return a preview's links, the mailto unsubscribe word and a Message-ID: none of
        them names anyone (the archive link is public anyway)."""
        inert = f"{self.base_url}/preview-link"
        links = Links(
            unsubscribe=f"{inert}/unsubscribe",
            preferences=f"{inert}/preferences",
            report=f"{inert}/report",
            archive=f"{self.archive_url}/{language}" if self.archive_url else "",
        )
        return links, "preview", f"<preview.{secrets.token_hex(10)}@{self.domain}>"

    def render(self, recipient: Recipient, language: str, links: Links) -> Rendered:
        """Render the recipient's variant with their personal links."""
        context = template_context(recipient, links, self.footers[language], self.name)
        return self.variants[language].render(context)

    def unsubscribe_url(self, recipient: Recipient) -> str:
        """Return the recipient's one-click unsubscribe URL for this campaign (an inert one
        from a preview factory)."""
        if self.inert:
            return f"{self.base_url}/preview-link/unsubscribe"
        return f"{self.base_url}/u/{self.tokens.unsubscribe(recipient.uid, self.campaign_uid)}"

    def build(self, recipient: Recipient, now: datetime) -> Outgoing | None:
        """Return the message for one recipient, or ``None`` when no variant fits."""
        language = self.language_for(recipient.language)
        if language is None:
            return None
        if self.hasher is None:
            links, token, message_id = self.inert_parts(language)
        else:
            token = self.tokens.unsubscribe(recipient.uid, self.campaign_uid)
            links = self.links(recipient, language, token, issue_day(now))
            message_id = self.hasher.message_id(self.campaign_uid, recipient.uid, self.domain)
        rendered = self.render(recipient, language, links)
        data = build_message(
            sender=self.sender_header,
            recipient=format_address(recipient.name, recipient.email),
            subject=f"[Test] {rendered.subject}" if self.test else rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            date=now,
            extra_headers={
                "Content-Language": language,
                "List-Id": f"<{self.list_id}>",
                "List-Unsubscribe": (
                    f"<{links.unsubscribe}>, "
                    f"<mailto:unsubscribe@{self.bounce_domain}?subject=unsubscribe%20{token}>"
                ),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                **({"X-Tocsin-Test": "yes"} if self.test else {}),
            },
        )
        if self.dkim_key is not None:
            data = dkim_sign(data, self.dkim_key)
        # VERP: bounces come back to an address that names the message, opaquely.
        envelope_from = f"bounces+{message_id[1:].partition('@')[0]}@{self.bounce_domain}"
        return Outgoing(language, message_id, envelope_from, recipient.email, data)


@functools.lru_cache(maxsize=8)
def dkim_key(domain: str, selectors: str, keys: str) -> tuple[DkimKey, ...] | None:
    """Load (and test) the DKIM keys once per process: comma-separated keys and their
    selectors, in the same order; ``None`` when none is configured."""
    if not keys.strip():
        return None
    try:
        return tuple(
            load_key(domain, selector, key) for selector, key in pair_keys(selectors, keys)
        )
    except ValueError as exc:
        raise ConfigError(f"TOCSIN_DKIM_KEY: {exc}") from None


def factory_for(campaign: Campaign, preview_languages: set[str] | None = None) -> MessageFactory:
    """Return a message factory for a campaign using the current app's settings."""
    return MessageFactory(campaign, current_app.config, preview_languages)
