"""Layouts (sandboxed Jinja HTML with CSS) and the wording of system emails.

A layout is checked when it is saved: it must compile in the sandbox, keep a
``{{ content }}`` slot, and render a sample message holding a link to the reader's
unsubscribe page, so a broken one never reaches a send.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app.errors import Conflict, InvalidInput, NotFound, Required
from app.extensions import db
from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from app.models import Campaign, CampaignStatus, Template
from emails.errors import RenderError
from emails.html_safety import links_to
from emails.rendering import CONTEXT_NAMES, CompiledVariant, VariantSource
from emails.sandbox import where_written

SAMPLE_BODY = "Hello {{ name | default('friends') }},\n\nA **sample** body with [a link](https://example.org)."


PUT_THE_LINK = (
    'put <a href="{{ unsubscribe_url }}">{{ unsubscribe_label }}</a> in it, '
    "outside any {% if %} that can be false"
)


def check_layout(html: str) -> None:
    """Compile and render a sample message with the layout; raise ``InvalidInput`` if broken
    or if the message has no link to the reader's unsubscribe page."""
    sample = sample_context("en")
    try:
        source = VariantSource("en", "Sample subject", "Sample preheader", SAMPLE_BODY)
        rendered = CompiledVariant(html, source, text_footer()).render(sample)
    except RenderError as exc:
        # At the layout's own line, not the sample message's, when it fails alone.
        names = CONTEXT_NAMES | {"content"}
        exc = where_written(exc, {"layout": html}, {**sample, "content": ""}, names, html=True)
        raise InvalidInput(str(exc), "html") from None
    if not links_to(rendered.html, sample["unsubscribe_url"]):
        raise InvalidInput(
            f"a layout must link to the reader's unsubscribe page: {PUT_THE_LINK}", "html"
        )


def check_usable(layout: Template) -> None:
    """Refuse a stored layout that fails today's checks (one saved before a rule came)."""
    try:
        check_layout(layout.html)
    except InvalidInput as exc:
        raise InvalidInput(
            f"the layout {layout.name!r} cannot be used: {exc}; change it under Layouts "
            "or choose another layout",
            "template",
        ) from None


def check_unsubscribe_link(layout: Template | None, html: str, sample: dict[str, Any]) -> None:
    """Refuse a message (rendered for ``sample``) that has no link to the unsubscribe page.

    A custom layout must have the link itself (one saved before this rule may not); the
    body must not hide or replace it (say with ``{% set unsubscribe_url = … %}``).
    """
    if layout is not None:
        check_usable(layout)
    if not links_to(html, sample["unsubscribe_url"]):
        raise InvalidInput(
            "this message would go out without a link to the reader's unsubscribe page: "
            "the body must not hide or replace the layout's {{ unsubscribe_url }} link",
            "body",
        )


def all_templates() -> list[Template]:
    return list(db.session.scalars(select(Template).order_by(Template.name)))


def get(template_id: int) -> Template:
    template = db.session.get(Template, template_id)
    if template is None:
        raise NotFound(f"no template with id {template_id}")
    return template


def save_template(name: str, html: str, template_id: int | None = None) -> Template:
    """Create a layout, or change one (``template_id``); refuse a broken one."""
    name = name.strip()
    if not name:
        raise Required("name", "a template")
    check_layout(html)
    clash = db.session.scalars(select(Template).where(Template.name == name)).first()
    if clash is not None and clash.id != template_id:
        raise Conflict(f"a template is already called {name!r}")
    template = get(template_id) if template_id is not None else Template()
    if template_id is not None and _in_use_by_sending(template.id):
        raise Conflict("campaigns that are sending use this template; it can change after")
    template.name, template.html = name, html
    db.session.add(template)
    db.session.commit()
    return template


def delete_template(template_id: int) -> None:
    """Delete a layout; campaigns that used it fall back to the built-in one (drafts only)."""
    template = get(template_id)
    if _in_use_by_sending(template.id) or db.session.scalar(
        select(Campaign.id).where(
            Campaign.template_id == template.id, Campaign.status == CampaignStatus.SENT
        )
    ):
        raise Conflict("sent or sending campaigns use this template; it is kept for them")
    db.session.execute(
        update(Campaign).where(Campaign.template_id == template.id).values(template_id=None)
    )
    db.session.delete(template)
    db.session.commit()


def default_layout() -> str:
    """The built-in layout: a starting point for a new one."""
    return DEFAULT_LAYOUT


def _in_use_by_sending(template_id: int) -> bool:
    return (
        db.session.scalar(
            select(Campaign.id).where(
                Campaign.template_id == template_id,
                Campaign.status.in_((CampaignStatus.SENDING, CampaignStatus.PAUSED)),
            )
        )
        is not None
    )
