"""A small world with one of everything the panel shows: lists, people, a group, a sent
campaign and a draft (each with two variants), a report, imports, a suppression, a bounce
with its inbound message, a layout and a caught message; and the public links to them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from app.audience import bounces, imports, lists, suppressions
from app.campaigns import lifecycle
from app.extensions import db
from app.inbound import intake
from app.messages import layouts, outbox
from app.models import Report, ReturnKind
from app.tokens import tokens
from tests.support.factories import make_campaign, make_group, make_subscriber
from tests.support.imports import run_import

VARIANTS = {
    "en": ("Week of action", "Dear {{ name | default('friends') }}, [report]({{ report_url }})"),
    "uk": ("Тиждень дій", "Вітаємо, {{ name | default('друзі') }}!"),
}
CAUGHT = (
    b"From: news@example.org\r\nTo: ann@example.org\r\nSubject: Week of action\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <a href='https://example.org'>"
    b"friends</a></p>\r\n"
)


@dataclass
class World:
    """The ids a page's URL needs, by argument name and a readable label."""

    ids: dict[str, dict[str, int | str]] = field(default_factory=dict)
    public: dict[str, str] = field(default_factory=dict)


def seed(catcher: Path) -> World:
    """Create the world (no worker runs: the sent campaign is pinned to a dead server)."""
    actions = lists.create_list("actions", "Action alerts", visibility="public")
    group = make_group("Partner Collective", "UA")
    olena = make_subscriber(
        "olena@example.org", lists=[actions], name="Olena", group=group, language="uk"
    )
    taras = make_subscriber("taras@example.org", lists=[actions], name="Taras")
    sent = make_campaign(VARIANTS, lists=[actions], smtp_server="dead", archive=True)
    lifecycle.start_sending(sent.id)
    db.session.add(Report(campaign_id=sent.id, subscriber_id=taras.id, language="en", title="Met"))
    db.session.commit()
    suppressions.suppress_address("gone@example.org", "asked by phone")
    draft = make_campaign(VARIANTS, lists=[actions])
    outbox.queue_test_sends(draft, ["olena@example.org"], [])
    db.session.commit()
    done = run_import(b"email,name\nivan@example.org,Ivan\nbad,Nobody\n", actions)
    uploaded = imports.upload(
        io.BytesIO(b"email\nx@example.org\n"), "more.csv", actions.id, "subscribe"
    )
    layout = layouts.save_template("Plain", layouts.default_layout())
    inbound = _bounce(olena.id, sent.id)
    key = _caught(catcher)
    return World(
        ids={
            "list_id": {"actions": actions.id},
            "subscriber_id": {"olena": olena.id},
            "campaign_id": {"sent": sent.id, "draft": draft.id},
            "group_id": {"group": group.id},
            "job_id": {"done": done.id, "uploaded": uploaded.id},
            "template_id": {"layout": layout.id},
            "inbound_id": {"bounce": inbound},
            "kind": {"confirm": "confirm", "goodbye": "goodbye"},
            "language": {"en": "en"},
            "key": {"caught": key},
        },
        public=public_pages(olena.uid, sent.uid, actions.id),
    )


def _bounce(subscriber_id: int, campaign_id: int) -> int:
    """A hard bounce read from a mailbox, applied to the person."""
    message = intake.accept(
        b"Subject: Undelivered\r\n\r\n<olena@example.org>: 550 5.1.1 user unknown\r\n",
        source="imap",
        envelope_from="mailer-daemon@example.net",
    )
    bounces.record(
        db.session.connection(),
        subscriber_id,
        ReturnKind.HARD,
        source="imap",
        scoring=bounces.Scoring(),
        status_code="5.1.1",
        diagnostic="550 5.1.1 user unknown",
        campaign_id=campaign_id,
        inbound_id=message.id,
    )
    db.session.commit()
    return message.id


def _caught(catcher: Path) -> str:
    """One HTML message in the catcher's Maildir; its key."""
    for sub in ("new", "cur", "tmp"):
        (catcher / sub).mkdir(parents=True, exist_ok=True)
    (catcher / "new" / "1700000000.week").write_bytes(CAUGHT)
    return "1700000000.week"


def public_pages(person: str, campaign: str, list_id: int) -> dict[str, str]:
    """Every page a stranger or a subscriber opens, by a readable name."""
    issued = tokens()
    return {
        "sign-up": "/s/actions",
        "confirm": f"/c/{issued.confirm(person, [list_id])}",
        "unsubscribe": f"/u/{issued.unsubscribe(person, campaign)}",
        "preferences": f"/p/{issued.preferences(person)}",
        "preferences-expired": "/p/not-a-token",
        "fresh-link": "/p/new-link",
        "preview-link": "/preview-link/unsubscribe",
        "archive-index": "/archive/en/",
        "archive-page": f"/archive/{campaign}/en",
        "report": f"/r/{issued.report(person, campaign)}",
        "not-found": "/s/nowhere",
        "not-found-path": "/no/such/page",
    }
