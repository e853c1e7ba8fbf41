"""Previews: a variant rendered exactly as a chosen (or sample) recipient would receive it,
and a draft (unsaved text in the editor) rendered the same way for the sample recipient."""

from __future__ import annotations

from dataclasses import dataclass, replace
from email import policy
from email.parser import BytesParser

from flask import current_app
from sqlalchemy import select

from app.addresses import normalize_email
from app.errors import InvalidInput, NotFound, TemplateProblem, TooLong
from app.extensions import db
from app.languages import normalize_tag
from app.messages.composing import (
    SAMPLE_RECIPIENT,
    Outgoing,
    Recipient,
    factory_for,
    recipient_of,
    sample_context,
)
from app.models import Campaign, Subscriber
from app.models.base import utcnow
from emails.errors import RenderError
from emails.rendering import CONTEXT_NAMES, VariantSource
from emails.sandbox import where_written

# The variant form's limits (and the columns'); the body's is the request cap, as when saved.
LINE_LIMIT = 500


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


@dataclass(frozen=True)
class Draft:
    """What the editor holds for one language, saved or not."""

    language: str
    subject: str
    preheader: str
    body: str
    body_format: str = "markdown"
    footer: tuple[str, str, str] = ("", "", "")


class DraftProblem(TemplateProblem):
    """A draft's template fails; ``part`` is where (``subject`` or ``body``), ``line`` its
    line there when known."""

    def __init__(self, error: RenderError) -> None:
        message = str(error).removesuffix(f" (line {error.line})")
        super().__init__(message, error.line)
        self.part = "subject" if message.startswith("subject") else "body"
        self.detail = message


def body_limit() -> int:
    """Return the most bytes a variant's body may have: what one request may carry."""
    return int(current_app.config["MAX_CONTENT_LENGTH"])


def check_draft_size(draft: Draft) -> None:
    """Refuse a draft over a variant's limits (``TooLong``), before anything is compiled."""
    for field, value in (("subject", draft.subject), ("preheader", draft.preheader)):
        if len(value) > LINE_LIMIT:
            raise TooLong(field, f"the {field}", LINE_LIMIT)
    size = len(draft.body.encode("utf-8"))
    if size > body_limit():
        raise body_too_long(size)


def body_too_long(size: int) -> TooLong:
    """Return the error for a body (or a request carrying one) of ``size`` bytes."""
    limit = body_limit()
    return TooLong(
        "body",
        "the body",
        limit,
        message=f"the body is {size:,} bytes, over a variant's limit of {limit:,} bytes; "
        "nothing was previewed",
    )


def preview_draft(campaign: Campaign, draft: Draft) -> MessagePreview:
    """Render unsaved text as the sample recipient gets it, through the sending path (the
    campaign's layout, the sandbox, sanitising, inert links); nothing is stored. Raises
    ``TooLong`` over the limits, ``InvalidInput`` for a bad language or format and
    ``DraftProblem`` (with the line) when the template fails."""
    check_draft_size(draft)
    language = normalize_tag(draft.language)
    if draft.body_format not in ("markdown", "html"):
        raise InvalidInput(f"body format must be markdown or html, not {draft.body_format!r}")
    source = VariantSource(language, draft.subject, draft.preheader, draft.body, draft.body_format)
    recipient = replace(SAMPLE_RECIPIENT, language=language)
    factory = factory_for(campaign, preview_languages=set())
    try:
        factory.use_draft(campaign, source, draft.footer)
        outgoing = factory.build(recipient, utcnow())
    except RenderError as exc:
        parts = {"subject": draft.subject, "body": draft.body}
        raise DraftProblem(
            where_written(exc, parts, sample_context(language), CONTEXT_NAMES)
        ) from None
    assert outgoing is not None  # the draft is the factory's only variant, in this language
    return read_message(outgoing, recipient.email)
