"""R"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, select

from app.delivery import ledger
from app.errors import InvalidInput, member_of
from app.extensions import db
from app.languages import choose_variant
from app.messages import layouts
from app.messages.composing import compile_source, sample_context
from app.models import (
    Campaign,
    Subscriber,
)
from emails.errors import RenderError
from emails.rendering import VariantSource


@dataclass(frozen=True)
class LanguageRow:
    """How the recipients who speak one language are served."""

    language: str
    recipients: int
    gets: str | None  # the ready variant they receive now; None: nothing fits
    intended: str | None  # the variant they would get if every variant were ready

    @property
    def falls_back(self) -> bool:
        return self.gets is not None and self.gets != self.language

    @property
    def waits_for_variant(self) -> bool:
        """Their own variant exists but is not ready: hold them, or send the fallback."""
        return self.intended is not None and self.intended != self.gets


class NotReadyChoice(enum.StrEnum):
    HOLD = "hold"  # recipients whose variant is not ready are skipped, marked held
    FALLBACK = "fallback"  # they get the variant the fallback chain gives among ready ones


def language_plan(campaign: Campaign) -> list[LanguageRow]:
    """For each recipient language: how many, which variant they get, and which they await.

    One grouped query over the audience, so it stays cheap for large lists.
    """
    counted = db.session.execute(
        select(Subscriber.language, func.count())
        .where(ledger.audience_of(campaign))
        .group_by(Subscriber.language)
        .order_by(func.count().desc(), Subscriber.language)
    ).all()
    ready = [v.language for v in campaign.variants if v.ready]
    written = [v.language for v in campaign.variants]
    chain, default = campaign.fallbacks or [], campaign.default_language
    return [
        LanguageRow(
            language,
            number,
            choose_variant(language, ready, chain, default),
            choose_variant(language, written, chain, default),
        )
        for language, number in counted
    ]


def check_sendable(
    campaign: Campaign, not_ready: NotReadyChoice | str | None
) -> tuple[list[LanguageRow], list[str]]:
    """Refuse a send that would surprise; return the plan and the languages to hold."""
    choice = not_ready_choice(not_ready)
    if not any(v.ready for v in campaign.variants):
        raise InvalidInput("the campaign has no ready variant to send")
    if not any(v.ready and v.language == campaign.default_language for v in campaign.variants):
        raise InvalidInput(f"the default language {campaign.default_language} has no ready variant")
    _check_links(campaign)
    plan = language_plan(campaign)
    waiting = [row for row in plan if row.waits_for_variant]
    if waiting and choice is None:
        described = ", ".join(f"{row.recipients} in {row.language}" for row in waiting)
        raise InvalidInput(
            f"some recipients' variant is not ready ({described}): choose to hold them "
            "or to send them the fallback",
            "not_ready",
        )
    held = [row.language for row in waiting] if choice is NotReadyChoice.HOLD else []
    return plan, held


def _check_links(campaign: Campaign) -> None:
    """Refuse to start when a ready variant would go out without the unsubscribe link
    (a layout or variant saved before that rule)."""
    if campaign.template is not None:
        layouts.check_usable(campaign.template)  # once, not with every variant
    for variant in (v for v in campaign.variants if v.ready):
        source = VariantSource(
            variant.language,
            variant.subject,
            variant.preheader,
            variant.body,
            variant.body_format.value,
        )
        sample = sample_context(variant.language)
        try:
            rendered = compile_source(campaign, source).render(sample)
            layouts.check_unsubscribe_link(None, rendered.html, sample)
        except (RenderError, InvalidInput) as exc:
            raise InvalidInput(f"the {variant.language} variant cannot go out: {exc}") from None


def not_ready_choice(value: NotReadyChoice | str | None) -> NotReadyChoice | None:
    if value is None or value == "":
        return None
    return member_of(
        NotReadyChoice,
        value,
        "not_ready",
        message="for recipients whose variant is not ready, choose hold or fallback, "
        f"not {value!r}",
    )
