"""Messages as a reader gets them, and the personal links in them."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from app.audience import lists
from app.extensions import db
from app.messages.composing import Recipient, factory_for, recipient_of
from app.models import Campaign
from app.models.base import utcnow
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber


def build_for(campaign: Campaign, subscriber):
    """The message this subscriber would get, parsed."""
    factory = factory_for(db.session.get(Campaign, campaign.id))
    outgoing = factory.build(recipient_of(subscriber), utcnow())
    assert outgoing is not None
    return BytesParser(policy=policy.default).parsebytes(outgoing.data)


def unsubscribe_path(campaign, subscriber) -> str:
    """The path of the subscriber's one-click unsubscribe link for this campaign."""
    factory = factory_for(campaign)
    recipient = Recipient(subscriber.uid, subscriber.email, "", "en", None, {})
    return factory.unsubscribe_url(recipient).removeprefix("https://news.example.org")


def report_path(language: str = "uk"):
    """A reader in a Kyiv group gets a campaign: (the path of their report link, the
    campaign, the group)."""
    partners = make_list()
    kyiv = make_group("Kyiv mutual aid", "UA")
    reader = make_subscriber("olena@example.org", language=language, lists=[partners], group=kyiv)
    campaign = make_campaign(
        {
            "en": ("Call", "[Tell us]({{ report_url }})"),
            "uk": ("Заклик", "[Звіт]({{ report_url }})"),
        },
        lists=[partners],
    )
    html = build_for(campaign, reader).get_body(("html",)).get_content()
    url = re.search(r'href="([^"]+/r/[^"]+)"', html).group(1)
    return url.removeprefix("https://news.example.org"), campaign, kyiv


def preference_page():
    """Olena (uk) on two private lists gets a campaign: (the path of her preference centre,
    her, the lists by slug: her two, a public one and a private one she is not on)."""
    partners = make_list("partners", "Partner collectives")
    private = make_list("press", "Press contacts")
    public = lists.create_list("actions", "Action alerts", visibility="public")
    secret = make_list("secret", "Another private list")
    olena = make_subscriber(
        "olena@example.org", language="uk", name="Олена", lists=[partners, private]
    )
    campaign = make_campaign({"en": "Hello", "uk": "Привіт"}, lists=[partners])
    html = build_for(campaign, olena).get_body(("html",)).get_content()
    path = re.search(r'href="https://news\.example\.org(/p/[^"]+)"', html).group(1)
    return path, olena, {"partners": partners, "press": private, "public": public, "secret": secret}
