"""The public archive: archived campaigns, per language, without anyone's personal data.

A page is the variant a reader of that language would get (fallbacks included), rendered
for nobody: no name (the template's defaults apply), no personal links, no footer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from app.errors import NotFound
from app.extensions import db
from app.languages import choose_variant
from app.messages.composing import Links, Recipient, factory_for, template_context
from app.models import Campaign, CampaignStatus
from emails.rendering import Rendered

# Archived campaigns appear once they have started; drafts and cancelled ones never do.
PUBLISHED = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT)
NOBODY_LINKS = Links(unsubscribe="", preferences="", report="", archive="")
# A personal link rendered for nobody is an empty href: the sentence that carried it goes too.
_EMPTY_LINK = re.compile(r"""<a\b[^>]*\bhref=(?:""|'')[^>]*>.*?</a>""", re.DOTALL | re.IGNORECASE)
# A paragraph, item or heading with no block inside it (a loose list item's paragraph is
# taken on its own).
_BLOCK = re.compile(
    r"(<(p|li|h[1-6])\b[^>]*>)((?:(?!</?(?:p|li|h[1-6]|ul|ol|div|table|blockquote)\b).)*?)(</\2>)",
    re.DOTALL | re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_TAG = re.compile(r"<[^>]*>")
NO_FOOTER = {"footer_reason": "", "unsubscribe_label": "", "preferences_label": "", "footer": None}


@dataclass(frozen=True)
class Entry:
    uid: str
    language: str  # the variant shown to readers of the index's language
    subject: str
    published: datetime


def entries(language: str, limit: int = 50) -> list[Entry]:
    """Archived campaigns, newest first, each in the variant readers of ``language`` get."""
    found = db.session.scalars(
        select(Campaign)
        .where(Campaign.archive.is_(True), Campaign.status.in_(PUBLISHED))
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(limit)
    )
    result = []
    for campaign in found:
        ready = {v.language: v for v in campaign.variants if v.ready}
        chosen = choose_variant(language, ready, campaign.fallbacks, campaign.default_language)
        if chosen is None:
            continue
        published = campaign.started_at or campaign.created_at
        result.append(Entry(campaign.uid, chosen, subject(campaign, chosen), published))
    return result


def page(campaign_uid: str, language: str) -> tuple[Campaign, Rendered, str]:
    """Return the archived campaign, its page for ``language`` readers, and that variant."""
    campaign = db.session.scalars(select(Campaign).where(Campaign.uid == campaign_uid)).first()
    if campaign is None or not campaign.archive or campaign.status not in PUBLISHED:
        raise NotFound("no archived campaign here")
    ready = [v.language for v in campaign.variants if v.ready]
    chosen = choose_variant(language, ready, campaign.fallbacks, campaign.default_language)
    if chosen is None:
        raise NotFound("no archived campaign here")
    return campaign, _render(campaign.uid, campaign.started_at, chosen), chosen


@functools.lru_cache(maxsize=64)
def _render(campaign_uid: str, started: datetime | None, language: str) -> Rendered:
    """Render once per (campaign, start, language): variants are frozen once sending starts."""
    campaign = db.session.scalars(select(Campaign).where(Campaign.uid == campaign_uid)).one()
    factory = factory_for(campaign, preview_languages={language})  # no personal links here
    nobody = Recipient(uid="", email="", name="", language=language, group=None, attributes={})
    context = template_context(nobody, NOBODY_LINKS, NO_FOOTER, campaign.name)
    context.update(email="")
    rendered = factory.variants[language].render(context)
    return replace(rendered, html=without_dead_links(rendered.html))


def without_dead_links(html: str) -> str:
    """Drop each sentence holding a link that is empty for nobody (the report form, the
    preference centre…), and its paragraph or item when nothing else is left in it.

    Sentences are told apart by their closing ``.``, ``!``, ``?`` or ``…`` and a space.
    """

    def block(match: re.Match[str]) -> str:
        opening, _name, inner, closing = match.groups()
        if not _EMPTY_LINK.search(inner):
            return match.group(0)
        kept = [part for part in _SENTENCE_END.split(inner) if not _EMPTY_LINK.search(part)]
        if not any(_TAG.sub("", part).strip(" \t\n.,;:!?…–—-") for part in kept):
            return ""
        return opening + " ".join(kept) + closing

    return _BLOCK.sub(block, html)


def subject(campaign: Campaign, language: str) -> str:
    """The subject of ``campaign``'s variant in ``language``, rendered for nobody."""
    return _render(campaign.uid, campaign.started_at, language).subject
