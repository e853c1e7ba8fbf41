"""Previews: a variant rendered exactly as a sample recipient would receive it."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from app.errors import NotFound
from app.models import Campaign
from app.models.base import utcnow
from app.services.composing import Recipient, factory_for


@dataclass(frozen=True)
class Preview:
    language: str
    subject: str
    html: str
    text: str
    headers: list[tuple[str, str]]


SAMPLE = Recipient(
    uid="preview", email="reader@example.org", name="", language="en", group=None, attributes={}
)


def preview(campaign: Campaign, language: str) -> Preview:
    """Render the campaign's variant in ``language`` for a sample recipient of that language."""
    if language not in {v.language for v in campaign.variants}:
        raise NotFound(f"campaign {campaign.id} has no {language} variant")
    factory = factory_for(campaign, preview_languages={language})
    recipient = Recipient(**{**SAMPLE.__dict__, "language": language})
    outgoing = factory.build(recipient, utcnow())
    assert outgoing is not None  # the variant was just compiled
    message = BytesParser(policy=policy.default).parsebytes(outgoing.data)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return Preview(
        language=outgoing.language,
        subject=str(message["Subject"]),
        html=html.get_content() if html else "",
        text=text.get_content() if text else "",
        headers=[(k, str(v)) for k, v in message.items()],
    )
