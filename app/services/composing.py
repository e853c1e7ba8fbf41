"""From a campaign and a subscriber to the bytes on the wire (rendering lives in ``emails``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any

from flask import current_app

from app.errors import ConfigError
from app.languages import choose_variant
from app.models import Campaign
from app.services.tokens import Tokens
from emails.dkim import DkimKey, load_key
from emails.dkim import sign as dkim_sign
from emails.mime import build_message, format_address, split_address
from emails.rendering import CompiledVariant, Rendered, VariantSource

DEFAULT_LAYOUT = files("emails").joinpath("layouts/default.html").read_text("utf-8")

# Footer words until the system templates are translated catalogues; English otherwise.
FOOTER = {
    "en": ("You receive this as a subscriber to {lists}.", "Unsubscribe"),
    "uk": ("Ви отримали цей лист як підписник(ця) {lists}.", "Відписатися"),
    "es": ("Recibes este correo por tu suscripción a {lists}.", "Darse de baja"),
    "fr": ("Vous recevez ce message en tant qu'abonné·e à {lists}.", "Se désabonner"),
    "de": ("Du erhältst diese Nachricht als Abonnent*in von {lists}.", "Abmelden"),
    "pl": ("Otrzymujesz tę wiadomość jako subskrybent(ka) {lists}.", "Wypisz się"),
}


def footer_words(language: str) -> tuple[str, str]:
    """Return the footer's reason sentence and unsubscribe label in a language."""
    return FOOTER.get(language, FOOTER.get(language.split("-")[0], FOOTER["en"]))


def layout_for(campaign: Campaign) -> str:
    """Return the campaign's Jinja layout, or the built-in email-client-safe one."""
    return campaign.template.html if campaign.template else DEFAULT_LAYOUT


def text_footer() -> str:
    """Return the Jinja source appended to every text part."""
    return "\n-- \n{{ footer_reason }}\n{{ unsubscribe_label }}: {{ unsubscribe_url }}\n"


def compile_source(campaign: Campaign, source: VariantSource) -> CompiledVariant:
    """Compile one variant with the campaign's layout (premailer runs here, once)."""
    return CompiledVariant(layout_for(campaign), source, text_footer())


def sample_context(language: str) -> dict[str, Any]:
    """Return the values a template sees for a made-up recipient (checks and previews)."""
    reason, label = footer_words(language)
    return {
        "email": "reader@example.org",
        "language": language,
        "attributes": {},
        "unsubscribe_url": "https://example.invalid/u/sample",
        "footer_reason": reason.format(lists="a list"),
        "unsubscribe_label": label,
    }


@dataclass(frozen=True)
class Recipient:
    """Plain data about one recipient: all that rendering may see."""

    uid: str
    email: str
    name: str
    language: str
    group: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP."""

    language: str
    message_id: str
    envelope_from: str
    recipient: str
    data: bytes


class MessageFactory:
    """Everything per campaign is prepared once here; ``build`` is the per-recipient path."""

    def __init__(
        self, campaign: Campaign, config: dict[str, Any], preview_languages: set[str] | None = None
    ) -> None:
        """Compile the ready variants, or just ``preview_languages`` (ready or not)."""
        self.campaign_uid = campaign.uid
        self.tokens = Tokens(config["SECRET_KEY"])
        self.base_url = str(config["BASE_URL"]).rstrip("/")
        self.sender = campaign.from_address or str(config["MAIL_FROM"])
        sender_name, self.sender_address = split_address(self.sender)
        self.sender_header = format_address(sender_name, self.sender_address)
        self.domain = self.sender_address.rpartition("@")[2] or "localhost"
        self.bounce_domain = str(config.get("BOUNCE_DOMAIN") or self.domain)
        self.dkim_key = _dkim_key(
            str(config.get("DKIM_DOMAIN") or self.domain),
            str(config.get("DKIM_SELECTOR") or ""),
            str(config.get("DKIM_KEY") or ""),
        )
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

    def language_for(self, recipient_language: str) -> str | None:
        """Return the variant language this recipient gets, or ``None``."""
        return choose_variant(
            recipient_language, self.variants, self.fallbacks, self.default_language
        )

    def render(self, recipient: Recipient, language: str, unsubscribe_url: str) -> Rendered:
        """Render the recipient's variant with their personal links."""
        reason, label = footer_words(language)
        context = {
            "email": recipient.email,
            "language": recipient.language,
            "attributes": recipient.attributes,
            "unsubscribe_url": unsubscribe_url,
            "footer_reason": reason.format(lists=self.list_names),
            "unsubscribe_label": label,
        }
        # Absent, not empty, so that `{{ name | default("friends") }}` works as written.
        if recipient.name:
            context["name"] = recipient.name
        if recipient.group:
            context["group"] = recipient.group
        return self.variants[language].render(context)

    def unsubscribe_url(self, recipient: Recipient) -> str:
        """Return the recipient's one-click unsubscribe URL for this campaign."""
        return f"{self.base_url}/u/{self.tokens.unsubscribe(recipient.uid, self.campaign_uid)}"

    def build(self, recipient: Recipient, now: datetime) -> Outgoing | None:
        """Return the message for one recipient, or ``None`` when no variant fits."""
        language = self.language_for(recipient.language)
        if language is None:
            return None
        token = self.tokens.unsubscribe(recipient.uid, self.campaign_uid)
        unsubscribe_url = f"{self.base_url}/u/{token}"
        rendered = self.render(recipient, language, unsubscribe_url)
        message_id = self.tokens.message_id(self.campaign_uid, recipient.uid, self.domain)
        data = build_message(
            sender=self.sender_header,
            recipient=format_address(recipient.name, recipient.email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            date=now,
            extra_headers={
                "Content-Language": language,
                "List-Id": f"<{self.list_id}>",
                "List-Unsubscribe": (
                    f"<{unsubscribe_url}>, "
                    f"<mailto:unsubscribe@{self.domain}?subject=unsubscribe%20{token}>"
                ),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        if self.dkim_key is not None:
            data = dkim_sign(data, self.dkim_key)
        # VERP: bounces come back to an address that names the message, opaquely.
        envelope_from = f"bounces+{message_id[1:].partition('@')[0]}@{self.bounce_domain}"
        return Outgoing(language, message_id, envelope_from, recipient.email, data)


@functools.lru_cache(maxsize=8)
def _dkim_key(domain: str, selector: str, key: str) -> DkimKey | None:
    """Load (and test) the DKIM key once per process; ``None`` when none is configured."""
    if not key:
        return None
    try:
        return load_key(domain, selector, key)
    except ValueError as exc:
        raise ConfigError(f"TOCSIN_DKIM_KEY: {exc}") from None


def factory_for(campaign: Campaign, preview_languages: set[str] | None = None) -> MessageFactory:
    """Return a message factory for a campaign using the current app's settings."""
    return MessageFactory(campaign, current_app.config, preview_languages)
