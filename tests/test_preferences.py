"""The preference centre: each change, leaving everything, the data download, and erasure
(after which the address stays suppressed and is never mailed again)."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.audience import subscriptions
from app.audience.suppressions import is_suppressed
from app.campaigns import lifecycle
from app.delivery.outbox_sending import send_outbox
from app.delivery.smtp import close_all
from app.extensions import db
from app.models import (
    Delivery,
    OutboxKind,
    OutboxMessage,
    Subscriber,
    Subscription,
    Suppression,
)
from tests.support.factories import (
    claim_queued_mail,
    make_campaign,
    make_subscriber,
)
from tests.support.messages import preference_page


def statuses(subscriber) -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
    ).all()
    return {row.mailing_list.slug: row.status.value for row in rows}


def test_the_page_is_in_their_language_and_offers_their_lists_and_public_ones(app):
    path, _olena, _lists = preference_page()
    page = app.test_client().get(path).get_data(as_text=True)
    assert "Ваша підписка" in page and 'lang="uk"' in page
    assert "Partner collectives" in page and "Press contacts" in page and "Action alerts" in page
    assert "Another private list" not in page


def test_name_language_and_lists_change_in_one_save(app):
    path, olena, found = preference_page()
    response = app.test_client().post(
        path,
        data={
            "action": "save",
            "name": "Olena K.",
            "language": "de",
            "lists": [str(found["partners"].id), str(found["public"].id)],
        },
    )
    assert response.status_code == 200
    assert "Gespeichert." in response.get_data(as_text=True)  # now in their new language
    stored = db.session.get(Subscriber, olena.id)
    assert (stored.name, stored.language) == ("Olena K.", "de")
    assert statuses(olena) == {
        "partners": "confirmed",
        "press": "unsubscribed",
        "actions": "confirmed",
    }


def test_bad_choices_change_nothing_and_say_why_in_their_language(app):
    path, olena, found = preference_page()
    client = app.test_client()
    bad_language = client.post(path, data={"action": "save", "name": "X", "language": "!!"})
    assert bad_language.status_code == 422
    assert "Виберіть мову зі списку." in bad_language.get_data(as_text=True)
    sneaky = client.post(
        path,
        data={"action": "save", "name": "X", "language": "uk", "lists": [str(found["secret"].id)]},
    )
    assert sneaky.status_code == 422
    assert db.session.get(Subscriber, olena.id).name == "Олена"
    assert statuses(olena) == {"partners": "confirmed", "press": "confirmed"}


def test_leaving_everything_queues_one_goodbye(app):
    path, olena, _found = preference_page()
    client = app.test_client()
    client.post(path, data={"action": "leave"})
    client.post(path, data={"action": "leave"})
    assert set(statuses(olena).values()) == {"unsubscribed"}
    goodbyes = db.session.scalars(select(OutboxMessage)).all()
    assert [(g.kind, g.to_address, g.language) for g in goodbyes] == [
        (OutboxKind.GOODBYE, "olena@example.org", "uk")
    ]
    assert goodbyes[0].payload["lists"] == "Partner collectives, Press contacts"


def test_they_can_download_everything_kept_about_them(app):
    path, _olena, found = preference_page()
    lifecycle.start_sending(make_campaign({"en": "Call"}, lists=[found["partners"]]).id)
    response = app.test_client().get(f"{path}/data.json")
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["email"] == "olena@example.org" and data["name"] == "Олена"
    assert {s["list"] for s in data["subscriptions"]} == {"Partner collectives", "Press contacts"}
    assert data["consent"]["source"] and data["messages"][0]["status"] == "queued"


def test_erasure_removes_their_data_and_keeps_the_address_suppressed_for_good(app):
    path, olena, found = preference_page()
    client = app.test_client()
    unconfirmed = client.post(path, data={"action": "erase"})
    assert unconfirmed.status_code == 422
    assert db.session.get(Subscriber, olena.id).email == "olena@example.org"

    erased = client.post(path, data={"action": "erase", "confirm": "yes"})
    assert erased.status_code == 200 and "Ваші дані видалено" in erased.get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(Subscriber, olena.id)
    assert "olena" not in row.email and row.name == "" and row.attributes == {}
    assert is_suppressed("olena@example.org")
    assert db.session.scalars(select(Suppression)).one().reason.value == "erasure"
    assert client.get(path).status_code == 400  # the link means nothing now

    # Added again by hand (or by an import): still never mailed.
    make_subscriber("Olena@example.org", lists=[found["partners"]])
    campaign = make_campaign({"en": "Next call"}, lists=[found["partners"]])
    assert lifecycle.start_sending(campaign.id) == 0
    assert (
        db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all() == []
    )


def test_erasure_deletes_their_system_emails_and_one_being_sent_is_not_sent(app, smtp):
    path, olena, found = preference_page()
    subscriptions.queue_goodbye(olena, ["Partner collectives"])
    subscriptions.request_confirmation(olena, [found["public"]])
    being_sent = claim_queued_mail()  # the worker has them, and sends them after the erasure
    someone_else = make_subscriber("ann@example.org", lists=[found["partners"]])
    subscriptions.queue_goodbye(someone_else, ["Partner collectives"])
    db.session.commit()

    client = app.test_client()
    assert client.post(path, data={"action": "erase", "confirm": "yes"}).status_code == 200
    db.session.expire_all()
    left = db.session.scalars(select(OutboxMessage)).all()
    assert [row.to_address for row in left] == ["ann@example.org"]
    assert not any("Олена" in str(row.payload) for row in left)
    try:
        assert send_outbox(being_sent) == 0  # what the worker's task runs
    finally:
        close_all()
    assert smtp.messages == []
