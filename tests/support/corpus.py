"""The corpus of real notices that came back (tests/corpus/returns, see its PROVENANCE.md)
for the readers' tests, and a delivery of ours for a notice to name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "returns"
VERP_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def corpus(name: str) -> bytes:
    """The bytes of one corpus sample."""
    return (CORPUS / name).read_bytes()


def corpus_names() -> list[str]:
    """Every sample of the corpus (not its PROVENANCE.md)."""
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".eml", ".txt"))


def new_token() -> str:
    """A token shaped like the ones our Message-IDs and VERP addresses carry."""
    return "".join(secrets.choice(VERP_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class Sent:
    """A delivery of ours that a notice can name: its ids, the address, the token."""

    subscriber_id: int
    delivery_id: int
    email: str
    token: str


def make_sent_delivery(email: str, domain: str = "example.org") -> Sent:
    """A subscriber on a list, a campaign, and one sent delivery with Message-ID
    ``<TOKEN@domain>``, committed."""
    from app.extensions import db
    from app.models import Delivery, DeliveryStatus
    from tests.support.factories import make_campaign, make_list, make_subscriber

    members = make_list()
    subscriber = make_subscriber(email, lists=[members])
    campaign = make_campaign({"en": "News"}, lists=[members])
    token = new_token()
    delivery = Delivery(
        campaign_id=campaign.id,
        subscriber_id=subscriber.id,
        status=DeliveryStatus.SENT,
        message_id=f"<{token}@{domain}>",
    )
    db.session.add(delivery)
    db.session.commit()
    return Sent(subscriber.id, delivery.id, email, token)
