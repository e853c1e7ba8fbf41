"""Previews: a variant rendered exactly as a chosen (or sample) recipient would receive it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from app.addresses import normalize_email
from app.errors import NotFound
from app.extensions import db
from app.messages.composing import (
    SAMPLE_RECIPIENT,
    Outgoing,
    Recipient,
    factory_for,
    recipient_of,
)
from app.models import Campaign, Subscriber
from app.models.base import utcnow


@dataclass(frozen=True)
class MessagePreview:
    language: str
    subject: str
    html: str
    text: str
    headers: list[tuple[str, str]]
    recipient: str


def sample_recipient(language: str, email: str | None = None) -> Recipient:
    """Return the subscriber with this address (in ``language``), or a made-up one."""
    if email and email.strip():
        address = normalize_email(email)
        found = db.session.scalars(select(Subscriber).where(Subscriber.email == address)).first()
        if found is None:
            raise NotFound(f"no subscriber has the address {address}")
        return replace(recipient_of(found), language=language)
    return replace(SAMPLE_RECIPIENT, language=language)


def preview(campaign: Campaign, language: str, email: str | None = None) -> MessagePreview:
    """Render the campaign's variant in ``language`` for a chosen or sample recipient."""
    if language not in {v.language for v in campaign.variants}:
        raise NotFound(f"campaign {campaign.id} has no {language} variant")
    recipient = sample_recipient(language, email)
    factory = factory_for(campaign, preview_languages={language})
    outgoing = factory.build(recipient, utcnow())
    assert outgoing is not None  # the variant was just compiled
    return read_message(outgoing, recipient.email)


def read_message(outgoing: Outgoing, recipient: str) -> MessagePreview:
    """Parse an assembled message back into what a preview shows."""
    message = BytesParser(policy=policy.default).parsebytes(outgoing.data)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return MessagePreview(
        language=outgoing.language,
        subject=str(message["Subject"]),
        html=html.get_content() if html else "",
        text=text.get_content() if text else "",
        headers=[(k, str(v)) for k, v in message.items()],
        recipient=recipient,
    )
