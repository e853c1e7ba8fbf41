"""Rotating TOCSIN_SECRET_KEY after a breach: links in mail already sent keep working while
the old key is a fallback, new links use the new key only, and erased or suppressed
addresses stay unmailed, because keyed hashes have their own key (TOCSIN_HASH_KEY), which a
database remembers by fingerprint and refuses to hash with any other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, text

from app import config
from app.audience import lists, subscriptions, suppressions
from app.campaigns import drafts, lifecycle
from app.delivery.sending import send_range
from app.errors import ConfigError
from app.extensions import db
from app.messages import outbox
from app.messages.composing import MessageFactory, recipient_of
from app.models import (
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    InstanceSetting,
    SignupRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from app.models.base import utcnow
from app.readers import preferences
from app.tokens import (
    HASH_KEY_SETTING,
    HashKeyMismatch,
    InvalidToken,
    Tokens,
    fingerprint,
    forget_checks,
    secret_fallbacks,
    tokens,
)
from tests.support.factories import make_campaign, make_list, make_subscriber

OLD = "test-secret-key-that-is-long-enough"  # what tests/conftest.py sets
NEW = "a-new-secret-key-after-the-breach-0123456789"


@pytest.fixture(autouse=True)
def _fresh_checks(app):
    """Each test's database starts without a recorded fingerprint: look again."""
    forget_checks()
    yield
    forget_checks()


def rotate(app, monkeypatch, *, hash_key: str | None = OLD, fallbacks: list[str] | None = None):
    """What an operator does: a new secret key, the old one as a fallback, and (as the
    procedure says) the hash key set to the old secret key."""
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW)
    monkeypatch.setitem(
        app.config, "SECRET_KEY_FALLBACKS", [OLD] if fallbacks is None else fallbacks
    )
    if hash_key is None:
        monkeypatch.delitem(app.config, "HASH_KEY", raising=False)
    else:
        monkeypatch.setitem(app.config, "HASH_KEY", hash_key)
    forget_checks()


def test_links_in_mail_already_sent_keep_working_and_new_ones_use_the_new_key(app, monkeypatch):
    partners = make_list("partners")
    ana = make_subscriber("ana@example.org", name="Ana", lists=[partners])
    waiting = subscriptions.apply_sign_up(partners, "bo@example.org", "Bo", "en")
    assert waiting is subscriptions.SignUp.NEW
    bo = db.session.scalars(select(Subscriber).where(Subscriber.email == "bo@example.org")).one()
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    old_preferences = tokens().preferences(ana.uid)
    old_unsubscribe = tokens().unsubscribe(ana.uid, campaign.uid)
    old_confirm = tokens().confirm(bo.uid, [partners.id])
    old_report = tokens().report(ana.uid, campaign.uid)

    rotate(app, monkeypatch)
    http = app.test_client()
    renamed = http.post(
        f"/p/{old_preferences}",
        data={"action": "save", "name": "Ana M", "language": "en", "lists": [str(partners.id)]},
    )
    assert renamed.status_code == 200
    assert http.get(f"/r/{old_report}").status_code == 200
    assert http.post(f"/c/{old_confirm}").status_code == 200
    assert (
        http.post(f"/u/{old_unsubscribe}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    db.session.expire_all()
    assert db.session.get(Subscriber, ana.id).name == "Ana M"
    statuses = dict(
        db.session.execute(select(Subscription.subscriber_id, Subscription.status)).all()
    )
    assert statuses == {
        ana.id: SubscriptionStatus.UNSUBSCRIBED,
        bo.id: SubscriptionStatus.CONFIRMED,
    }

    # New links are signed with the new key only: the old key alone does not read them.
    fresh = tokens().preferences(ana.uid)
    assert Tokens(NEW).read_preferences(fresh) == ana.uid
    with pytest.raises(InvalidToken):
        Tokens(OLD).read_preferences(fresh)
    # Once the fallback is dropped, links signed with the old key stop working.
    rotate(app, monkeypatch, fallbacks=[])
    assert http.get(f"/p/{old_preferences}").status_code == 400
    assert http.get(f"/u/{old_unsubscribe}").status_code == 400


def test_erased_and_suppressed_addresses_stay_unmailed_after_a_rotation(app, monkeypatch):
    partners = lists.create_list("open", "Open list", visibility="public", optin="single")
    stays = make_subscriber("stays@example.org", lists=[partners])
    erased = make_subscriber("erased@example.org", lists=[partners])
    preferences.erase(tokens().preferences(erased.uid))
    suppressions.suppress_address("suppressed@example.org", "asked by phone")
    db.session.commit()
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    reader = recipient_of(stays)
    message_id = MessageFactory(campaign, app.config).build(reader, utcnow()).message_id

    rotate(app, monkeypatch)
    # Both sign up again on the public form (or someone signs them up); the worker applies it.
    for address in ("erased@example.org", "suppressed@example.org", "new@example.org"):
        subscriptions.request_sign_up(partners, address, "", "en")
    subscriptions.process_sign_ups()  # (or the session's worker, if it runs, with the same key)
    assert db.session.scalars(select(SignupRequest)).all() == []
    lifecycle.start_sending(campaign.id)
    mailed = db.session.scalars(
        select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
    ).all()
    assert sorted(mailed) == ["new@example.org", "stays@example.org"]
    assert suppressions.is_suppressed("erased@example.org")
    assert suppressions.is_suppressed("suppressed@example.org")
    # Message-IDs keep their key too: a retried message has the same id after a rotation.
    assert MessageFactory(campaign, app.config).build(reader, utcnow()).message_id == message_id


def test_rotating_the_secret_without_a_hash_key_refuses_to_hash(app, monkeypatch):
    partners = lists.create_list("open", "Open list", visibility="public", optin="single")
    make_subscriber("first@example.org", lists=[partners])  # records the key's fingerprint
    db.session.commit()
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    # One campaign already sending (paused, so that no worker of this session takes it).
    earlier = make_campaign({"en": "Before"}, lists=[partners])
    lifecycle.start_sending(earlier.id)
    lifecycle.pause(earlier.id)
    subscriptions.queue_goodbye(db.session.scalars(select(Subscriber)).one(), ["Open list"], "en")
    db.session.commit()

    rotate(app, monkeypatch, hash_key=None)
    with pytest.raises(HashKeyMismatch, match="TOCSIN_HASH_KEY to the previous TOCSIN_SECRET_KEY"):
        lifecycle.start_sending(campaign.id)
    db.session.rollback()
    assert db.session.scalars(select(Delivery.campaign_id)).all() == [earlier.id]
    with pytest.raises(HashKeyMismatch):
        MessageFactory(campaign, app.config)  # the worker builds no real message
    rows = db.session.scalars(select(Delivery).where(Delivery.campaign_id == earlier.id)).all()
    with pytest.raises(HashKeyMismatch):
        send_range(earlier.id, rows[0].id, rows[-1].id)  # claims nothing
    db.session.rollback()
    assert [(r.status, r.attempts) for r in db.session.scalars(select(Delivery))] == [
        (DeliveryStatus.QUEUED, 0)
    ]
    assert outbox.claim_due() == []  # system emails wait too
    later = make_campaign({"en": "Later"}, lists=[partners])
    lifecycle.schedule(
        later.id, datetime(2020, 1, 1, 9), "UTC", now=datetime(2019, 1, 1, tzinfo=UTC)
    )
    assert lifecycle.start_due() == []  # a scheduled campaign waits, still scheduled
    assert drafts.get(later.id).status is CampaignStatus.SCHEDULED
    # Sign-ups wait, untouched, instead of being applied with the wrong hashes.
    subscriptions.request_sign_up(partners, "waits@example.org", "", "en")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert subscriptions.process_sign_ups() == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert not [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in statements if "signup_requests" in s]
    with pytest.raises(HashKeyMismatch):
        suppressions.suppress_address("another@example.org")
    db.session.rollback()

    # Following the message fixes it: the hash key is the previous secret key.
    rotate(app, monkeypatch, hash_key=OLD)
    subscriptions.process_sign_ups()
    assert lifecycle.start_sending(campaign.id) == 2  # first@ and waits@


def test_a_new_database_adopts_the_configured_hash_key(app):
    assert db.session.get(InstanceSetting, HASH_KEY_SETTING) is None  # emptied for the test
    suppressions.suppress_address("gone@example.org")
    db.session.commit()
    recorded = db.session.get(InstanceSetting, HASH_KEY_SETTING)
    assert recorded is not None and recorded.value == fingerprint(OLD)
    assert OLD not in recorded.value


def test_fallback_keys_are_read_from_the_environment_and_production_needs_a_hash_key():
    read = config.from_environment({"TOCSIN_SECRET_KEY_FALLBACKS": " old-one, older-one  oldest "})
    assert read == {"SECRET_KEY_FALLBACKS": ["old-one", "older-one", "oldest"]}
    values = {**config.defaults("/srv/tocsin"), "TOCSIN_ENV": "production", "SECRET_KEY": NEW}
    with pytest.raises(ConfigError, match="TOCSIN_HASH_KEY must be set in production"):
        config.check(values)
    config.check({**values, "HASH_KEY": OLD})


@pytest.mark.parametrize(
    ("secret_key", "hash_key"),
    [
        ("made-with-this-secret", ""),  # unset: the secret key made the rows
        ("a-rotated-secret", "made-with-this-secret"),  # rotated as the procedure says
        ("made-with-this-secret", "a-brand-new-hash-key"),  # a new hash key: the rows tell
    ],
)
def test_the_migration_records_the_key_the_existing_hashes_were_made_with(
    tmp_path, secret_key, hash_key
):
    from flask_migrate import upgrade

    from app import create_app

    made_with = "made-with-this-secret"
    other = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}",
            "SECRET_KEY": secret_key,
            "HASH_KEY": hash_key,
        }
    )
    with other.app_context():
        upgrade(revision="4a7c2e9d1b30")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO subscribers (uid, email, email_hash, name, language, status, "
                    "attributes, consent_source, created_at) VALUES "
                    "('u1', 'ana@example.org', :hash, '', 'en', 'active', '{}', '', '2026-01-01')"
                ),
                {"hash": _old_hash(made_with, "ana@example.org")},
            )
        upgrade(revision="5b8e2f1a9c47")
        with db.engine.connect() as connection:
            value = connection.execute(text("SELECT value FROM instance_settings")).scalar_one()
        db.engine.dispose()
    assert value == fingerprint(made_with)


def _old_hash(key: str, email: str) -> str:
    """The address hash as the release before made it: HMAC-SHA256 of ``address:<email>``."""
    import hashlib
    import hmac

    return hmac.new(key.encode(), f"address:{email}".encode(), hashlib.sha256).hexdigest()


def test_a_fallback_key_set_as_text_is_one_key_not_one_per_character(app, monkeypatch):
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", OLD)
    assert secret_fallbacks(app.config) == [OLD]
    forged = Tokens("t").unsubscribe("someone", "some-campaign")  # a one-letter key
    with pytest.raises(InvalidToken):
        tokens().read_unsubscribe(forged)
    assert tokens().read_unsubscribe(Tokens(OLD).unsubscribe("ana", "c1")) == ("ana", "c1")
