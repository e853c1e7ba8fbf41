"""One-click unsubscribe: no cookie, no redirect, idempotent, and the next campaign skips them."""

from __future__ import annotations

from sqlalchemy import select

from app.campaigns import lifecycle
from app.extensions import db
from app.models import Delivery, OutboxKind, OutboxMessage, Subscription, SubscriptionStatus
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.messages import unsubscribe_path


def subscription_status(subscriber, mailing_list) -> SubscriptionStatus:
    db.session.expire_all()
    return db.session.scalar(
        select(Subscription.status).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == mailing_list.id
        )
    )


def setup_campaign():
    partners = make_list("partners", "Partner collectives")
    other = make_list("other", "Other list")
    olena = make_subscriber("olena@example.org", language="uk", lists=[partners, other])
    campaign = make_campaign({"en": "Week of action"}, lists=[partners])
    return partners, other, olena, campaign


def test_unsubscribe_post_needs_no_cookie_and_never_redirects(app):
    partners, other, olena, campaign = setup_campaign()
    client = app.test_client(use_cookies=False)
    response = client.post(
        unsubscribe_path(campaign, olena),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert subscription_status(olena, partners) == SubscriptionStatus.UNSUBSCRIBED
    assert subscription_status(olena, other) == SubscriptionStatus.CONFIRMED
    again = client.post(unsubscribe_path(campaign, olena), data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200


def test_next_campaign_to_the_list_skips_the_unsubscribed(app):
    partners, _other, olena, campaign = setup_campaign()
    make_subscriber("ann@example.org", lists=[partners])
    app.test_client().post(
        unsubscribe_path(campaign, olena), data={"List-Unsubscribe": "One-Click"}
    )
    following = make_campaign({"en": "Next call"}, lists=[partners])
    assert lifecycle.start_sending(following.id) == 1
    ledger_rows = db.session.scalars(
        select(Delivery.subscriber_id).where(Delivery.campaign_id == following.id)
    ).all()
    assert olena.id not in ledger_rows


def test_get_shows_a_button_and_changes_nothing(app):
    partners, _other, olena, campaign = setup_campaign()
    response = app.test_client().get(unsubscribe_path(campaign, olena))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form method="post">' in page and "Відписатися" in page
    assert subscription_status(olena, partners) == SubscriptionStatus.CONFIRMED


def test_tampered_token_changes_nothing(app):
    partners, _other, olena, campaign = setup_campaign()
    path = unsubscribe_path(campaign, olena)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (tampered, "/u/not-a-token", path.rsplit(".", 1)[0]):
        response = app.test_client().post(bad)
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)
    assert subscription_status(olena, partners) == SubscriptionStatus.CONFIRMED


def test_only_a_person_pressing_the_button_queues_a_goodbye(app):
    partners, _other, olena, campaign = setup_campaign()
    client = app.test_client(use_cookies=False)
    client.post(unsubscribe_path(campaign, olena), data={"List-Unsubscribe": "One-Click"})
    assert db.session.scalars(select(OutboxMessage)).all() == []
    ann = make_subscriber("ann@example.org", lists=[partners])
    client.post(unsubscribe_path(campaign, ann))
    client.post(unsubscribe_path(campaign, ann))
    assert [(m.kind, m.to_address) for m in db.session.scalars(select(OutboxMessage))] == [
        (OutboxKind.GOODBYE, "ann@example.org")
    ]


def test_unsubscribe_tokens_are_the_ones_itsdangerous_writes_and_read_back():
    from itsdangerous import URLSafeSerializer

    from app.models.base import new_uid
    from app.tokens import Tokens

    secret = "a-test-secret-key-a-test-secret-key"
    maker = Tokens(secret)
    reference = URLSafeSerializer(secret, salt="tocsin-unsubscribe")
    for _ in range(50):
        pair = new_uid(), new_uid()
        assert maker.unsubscribe(*pair) == reference.dumps(list(pair))
    for pair in [('ä"\\/ü', "x" * 32), ("a" * 32, "a" * 32), ("", "")]:
        assert maker.read_unsubscribe(maker.unsubscribe(*pair)) == pair
    assert Tokens("another-secret-another-secret-another").unsubscribe("a", "b") != (
        maker.unsubscribe("a", "b")
    )
