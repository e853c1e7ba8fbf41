"""Public sign-up: double opt-in in the reader's language through the worker, the same answer
and the same work whatever the address, sign-ups applied once also when they race, and abuse
defences (honeypot, fill time, rate limits, one mail a day)."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, func, select

from app.audience import lists, subscriptions, suppressions
from app.extensions import db
from app.messages import outbox
from app.models import (
    OutboxMessage,
    SignupRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from app.models.base import utcnow
from app.tokens import tokens
from tests.support.factories import make_subscriber
from tests.support.signup import form_token, post
from tests.support.smtp import wait_for_mail


def applied() -> None:
    """Apply the waiting sign-ups as the worker's dispatcher does (a running session worker
    may have applied some already: the result is the same)."""
    subscriptions.process_sign_ups()


# New, waiting, subscribed, suppressed, at a blocked domain: a stranger must not tell them apart.
EVERY_KIND_OF_ADDRESS = (
    "new@example.org",
    "waiting@example.org",
    "member@example.org",
    "gone@example.org",
    "someone@blocked.example",
)


def subscription_of(email: str):
    db.session.expire_all()
    return db.session.scalar(select(Subscription).join(Subscriber).where(Subscriber.email == email))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "subject", "button", "confirmed"),
    [
        (
            "uk",
            "Підтвердіть підписку: Action alerts",
            "Так, підписати мене",
            "Підписку підтверджено",
        ),
        (
            "es",
            "Confirma tu suscripción: Action alerts",
            "Sí, suscribirme",
            "Suscripción confirmada",
        ),
    ],
)
def test_double_opt_in_end_to_end_in_the_readers_language(
    app, signup, run_worker, smtp, language, subject, button, confirmed
):
    client = app.test_client()
    answer = post(client, "reader@example.org", language=language, name="Reader")
    assert answer.status_code == 200

    message = wait_for_mail(smtp, 1)[0]  # the worker applied the sign-up and sent the mail
    assert subscription_of("reader@example.org").status == SubscriptionStatus.UNCONFIRMED
    assert db.session.scalars(select(SignupRequest)).all() == []
    assert message["Subject"] == subject and message["Content-Language"] == language
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"https://news\.example\.org(/c/\S+?)\)?\s", text).group(1)

    shown = client.get(link)
    assert button in shown.get_data(as_text=True)  # a GET (a link scanner) confirms nothing
    assert subscription_of("reader@example.org").status == SubscriptionStatus.UNCONFIRMED
    done = client.post(link)
    assert confirmed in done.get_data(as_text=True)
    assert subscription_of("reader@example.org").status == SubscriptionStatus.CONFIRMED
    assert client.post(link).status_code == 200  # idempotent
    assert subscription_of("reader@example.org").status == SubscriptionStatus.CONFIRMED


def comparable(response) -> tuple:
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k != "Date"))
    return response.status_code, headers, response.get_data()


def test_the_answer_is_the_same_whatever_the_address(app, signup):
    make_subscriber("member@example.org", lists=[signup])
    suppressions.block_domain("blocked.example", "spam trap")
    client = app.test_client()
    post(client, "waiting@example.org")
    applied()
    suppress(make_subscriber("gone@example.org", lists=[]))
    answers = {email: comparable(post(client, email)) for email in EVERY_KIND_OF_ADDRESS}
    assert len(set(answers.values())) == 1, answers.keys()
    applied()
    assert subscription_of("member@example.org").status == SubscriptionStatus.CONFIRMED
    assert subscription_of("gone@example.org") is None
    assert db.session.scalar(select(Subscriber).where(Subscriber.email.like("%blocked%"))) is None


def suppress(subscriber) -> None:
    suppressions.suppress_hash(
        db.session.connection(), subscriber.email_hash, SuppressionReason.MANUAL
    )
    db.session.commit()


def test_the_work_is_the_same_whatever_the_address(app, signup):
    """The same SQL statements run for a new, waiting, subscribed or suppressed address (the
    timing of the answer has nothing to tell); looking the address up is the worker's job."""
    make_subscriber("member@example.org", lists=[signup])
    suppress(make_subscriber("gone@example.org", lists=[]))
    suppressions.block_domain("blocked.example")
    client = app.test_client()
    post(client, "waiting@example.org")
    applied()
    assert subscription_of("waiting@example.org").status == SubscriptionStatus.UNCONFIRMED
    started = form_token(client)
    work = {}
    for email in EVERY_KIND_OF_ADDRESS:
        statements: list[str] = []

        def record(_conn, _cursor, statement, _parameters, _context, _many, into=statements):
            into.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert post(client, email, started=started).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        work[email] = tuple(statements)
    assert len(set(work.values())) == 1, work
    statements = next(iter(work.values()))
    writes = [s for s in statements if not s.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO signup_requests")
    applied()
    assert db.session.scalars(select(SignupRequest)).all() == []
    assert subscription_of("new@example.org").status == SubscriptionStatus.UNCONFIRMED
    assert subscription_of("gone@example.org") is None
    assert db.session.scalar(select(Subscriber).where(Subscriber.email.like("%blocked%"))) is None


def test_a_name_too_long_gets_the_same_answer_whoever_the_address_is(app, signup):
    make_subscriber("member@example.org", lists=[signup])
    client = app.test_client()
    long_name = "N" * 201
    answers = []
    for email in ("member@example.org", "nobody@example.org"):  # the page shows what was typed
        status, headers, body = comparable(post(client, email, name=long_name))
        body = re.sub(rb'name="started" value="[^"]+"', b"", body)  # a new form each time
        answers.append((status, headers, body.replace(email.encode(), b"<address>")))
    assert answers[0] == answers[1] and answers[0][0] == 422
    assert b"a name of at most 200 characters" in answers[0][2]
    in_ukrainian = post(client, "nobody@example.org", name=long_name, language="uk")
    assert "ім’я не довше за 200 символів" in in_ukrainian.get_data(as_text=True)
    assert db.session.scalars(select(SignupRequest)).all() == []
    assert post(client, "new@example.org", name="N" * 200).status_code == 200


def test_a_request_that_keeps_failing_is_dropped_and_the_others_are_applied(
    app, signup, monkeypatch, no_dispatcher
):
    client = app.test_client()
    post(client, "poison@example.org")
    post(client, "fine@example.org")
    real_apply = subscriptions.apply_sign_up

    def apply(mailing_list, address, name, language):
        if address == "poison@example.org":
            raise RuntimeError("cannot be applied")
        return real_apply(mailing_list, address, name, language)

    monkeypatch.setattr(subscriptions, "apply_sign_up", apply)
    assert subscriptions.process_sign_ups() == 1
    assert subscription_of("fine@example.org") is not None
    for tick in range(2, subscriptions.SIGN_UP_ATTEMPTS + 1):
        assert db.session.scalars(select(SignupRequest.attempts)).all() == [tick - 1]
        subscriptions.process_sign_ups()
    assert db.session.scalars(select(SignupRequest)).all() == []
    assert subscription_of("poison@example.org") is None


def test_concurrent_sign_ups_of_one_new_address_are_applied_once(app, signup, no_dispatcher):
    client = app.test_client()
    for _ in range(4):
        post(client, "twice@example.org", name="Twice")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            try:
                start.wait()
                subscriptions.process_sign_ups()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    db.session.expire_all()
    assert db.session.scalars(select(SignupRequest)).all() == []
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1
    assert subscription_of("twice@example.org").status == SubscriptionStatus.UNCONFIRMED
    mails = db.session.scalars(select(OutboxMessage)).all()
    assert [(m.kind.value, m.to_address) for m in mails] == [("confirm", "twice@example.org")]


def test_an_address_stored_after_the_form_counts_as_known(app, signup):
    # Added by an organiser (or an import) after the form, before the worker applies it.
    make_subscriber("olena@example.org", lists=[signup], name="Olena", language="uk")
    outcome = subscriptions.apply_sign_up(signup, "olena@example.org", "Mallory", "en")
    db.session.commit()
    assert outcome == subscriptions.SignUp.ALREADY
    olena = db.session.scalar(select(Subscriber).where(Subscriber.email == "olena@example.org"))
    assert (olena.name, olena.language) == ("Olena", "uk")
    assert subscription_of("olena@example.org").status == SubscriptionStatus.CONFIRMED
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_a_strangers_form_changes_nobodys_name_or_language(app, signup):
    make_subscriber("member@example.org", lists=[], name="Olena", language="uk")
    post(app.test_client(), "member@example.org", name="Mallory", language="en")
    applied()
    member = db.session.scalar(select(Subscriber).where(Subscriber.email == "member@example.org"))
    assert (member.name, member.language) == ("Olena", "uk")


def test_at_most_one_confirmation_mail_a_day_per_address(app, signup):
    client = app.test_client()
    for _ in range(3):
        post(client, "reader@example.org")
        applied()
    post(client, "reader@example.org")
    post(client, "reader@example.org")
    applied()
    mails = db.session.scalars(select(OutboxMessage)).all()
    assert [(m.kind.value, m.to_address) for m in mails] == [("confirm", "reader@example.org")]


def test_lists_signed_up_for_later_the_same_day_are_asked_for_in_one_held_mail(app, signup):
    second = lists.create_list("second", "Second list", visibility="public")
    third = lists.create_list("third", "Third list", visibility="public")
    client = app.test_client()
    for slug in ("actions", "second", "actions", "third"):
        post(client, "reader@example.org", slug=slug)
    applied()
    first, held = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert (first.payload["lists"], first.not_before) == ("Action alerts", None)
    assert held.payload["lists"] == "Second list, Third list"
    reader = db.session.scalar(select(Subscriber))
    assert held.not_before == reader.confirmation_sent_at  # the day after the first mail
    assert held.not_before - utcnow() > timedelta(hours=23)
    assert outbox.claim_due() == [first.id]  # the held one waits for its day
    outbox.record(first.id, sent=True, reply="250 queued")
    assert outbox.claim_due(now=held.not_before + timedelta(seconds=1)) == [held.id]
    link = re.search(r"/c/\S+", held.payload["confirm_url"]).group(0)
    client.post(link)
    statuses = {
        s.list_id: s.status
        for s in db.session.scalars(select(Subscription).execution_options(populate_existing=True))
    }
    assert statuses == {
        signup.id: SubscriptionStatus.UNCONFIRMED,
        second.id: SubscriptionStatus.CONFIRMED,
        third.id: SubscriptionStatus.CONFIRMED,
    }


def test_the_honeypot_and_instant_forms_change_nothing_but_answer_alike(app, signup):
    client = app.test_client()
    person = post(client, "person@example.org")
    bot = post(client, "bot@example.org", website="http://spam.example")
    app.config["SUBSCRIBE_MIN_SECONDS"] = 5.0
    fast = post(client, "fast@example.org")
    assert comparable(bot) == comparable(person) == comparable(fast)
    applied()
    assert subscription_of("bot@example.org") is None
    assert subscription_of("fast@example.org") is None
    assert subscription_of("person@example.org") is not None


def test_the_minimum_fill_time_counts_milliseconds(app, signup):
    app.config["SUBSCRIBE_MIN_SECONDS"] = 2.0
    client = app.test_client()

    def post_after(seconds: float, email: str):
        started = tokens().form_started(utcnow() - timedelta(seconds=seconds))
        data = {"email": email, "name": "", "language": "", "started": started}
        return client.post("/s/actions", data=data)

    person = post_after(2.1, "person@example.org")
    fast = post_after(1.2, "fast@example.org")
    assert comparable(fast) == comparable(person)
    applied()
    assert subscription_of("fast@example.org") is None
    assert subscription_of("person@example.org") is not None
    assert db.session.scalars(select(Subscriber.email)).all() == ["person@example.org"]


def test_a_form_token_from_before_milliseconds_asks_for_one_more_click(app, signup):
    older = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="tocsin-form").dumps("form")
    assert tokens().form_age(older) is None
    data = {"email": "reader@example.org", "name": "", "language": "", "started": older}
    page = app.test_client().post("/s/actions", data=data).get_data(as_text=True)
    applied()
    assert "One more step" in page and subscription_of("reader@example.org") is None


def test_rate_limits_stop_a_burst_per_client_and_per_address(app, signup):
    app.config["SUBSCRIBE_IP_LIMIT"] = "5 per hour"
    client = app.test_client()
    codes = [post(client, f"n{i}@example.org").status_code for i in range(7)]
    assert codes == [200] * 5 + [429] * 2
    refused = post(client, "n9@example.org", language="uk")
    assert "Забагато спроб" in refused.get_data(as_text=True)
    applied()
    assert subscription_of("n5@example.org") is None

    app.config["SUBSCRIBE_IP_LIMIT"] = "1000 per hour"
    app.config["SUBSCRIBE_ADDRESS_LIMIT"] = "2 per hour"
    try:
        many = [
            post(client, "target@example.org", ip=f"203.0.113.{i}").status_code for i in range(4)
        ]
    finally:
        app.config["SUBSCRIBE_ADDRESS_LIMIT"] = "5 per hour"
    assert many == [200, 200, 429, 429]


def test_the_too_many_page_speaks_the_lists_language_when_the_form_names_none(app, signup):
    lists.create_list("akcje", "Akcje", visibility="public", default_language="uk")
    app.config["SUBSCRIBE_IP_LIMIT"] = "1 per hour"
    client = app.test_client()
    assert post(client, "a@example.org", slug="akcje").status_code == 200
    refused = post(client, "b@example.org", slug="akcje")
    assert refused.status_code == 429 and "Забагато спроб" in refused.get_data(as_text=True)


def test_an_embedded_form_gets_one_more_step_on_our_page(app, signup):
    client = app.test_client()
    response = client.post(
        "/s/actions", data={"email": "reader@example.org", "name": "Ana", "language": "fr"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Encore une étape" in page
    assert 'value="reader@example.org"' in page and 'name="started" value="' in page
    assert db.session.scalars(select(SignupRequest)).all() == []


def test_a_bad_address_is_explained_and_nothing_is_created(app, signup):
    response = post(app.test_client(), "not an address", language="de")
    assert response.status_code == 422
    assert "gültige E-Mail-Adresse" in response.get_data(as_text=True)
    assert db.session.scalars(select(SignupRequest)).all() == []


def test_private_lists_have_no_form_and_single_opt_in_lists_need_no_mail(app, signup):
    lists.create_list("internal", "Internal")
    client = app.test_client()
    assert client.get("/s/internal").status_code == 404
    assert client.get("/s/nothing").status_code == 404
    lists.create_list("open", "Open list", visibility="public", optin="single")
    response = post(client, "reader@example.org", slug="open")
    assert "you are subscribed" in response.get_data(as_text=True)
    applied()
    assert subscription_of("reader@example.org").status == SubscriptionStatus.CONFIRMED
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_confirmation_links_expire_and_forged_ones_do_nothing(app, signup, monkeypatch):
    post(app.test_client(), "reader@example.org")
    applied()
    reader = db.session.scalar(select(Subscriber).where(Subscriber.email == "reader@example.org"))
    token = tokens().confirm(reader.uid, [signup.id])
    monkeypatch.setattr(subscriptions, "CONFIRM_MAX_AGE", -1)
    expired = app.test_client().post(f"/c/{token}", headers={"Accept-Language": "pl"})
    assert expired.status_code == 400 and "Ten link wygasł" in expired.get_data(as_text=True)
    assert app.test_client().post(f"/c/{token[:-4]}xxxx").status_code == 400
    assert subscription_of("reader@example.org").status == SubscriptionStatus.UNCONFIRMED


def test_the_panel_shows_the_form_address_and_a_snippet_that_works(app, signup):
    from app.accounts import users
    from tests.support.panel import Client

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    page = Client(app).get(f"/lists/{signup.id}/sign-up").get_data(as_text=True)
    assert "https://news.example.org/s/actions" in page
    snippet = re.search(r'id="snippet"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert (
        "&lt;form method=&#34;post&#34; action=&#34;https://news.example.org/s/actions" in snippet
    )
    # The snippet's fields are the ones the form reads: it lands on the one-more-step page.
    response = app.test_client().post(
        "/s/actions", data={"email": "a@example.org", "name": "A", "website": ""}
    )
    assert "One more step" in response.get_data(as_text=True)


def test_the_snippet_speaks_the_lists_language_and_leaves_the_readers_to_the_browser(app):
    from app.accounts import users
    from tests.support.panel import Client

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    ukrainian = lists.create_list("akcje", "Akcje", visibility="public", default_language="uk")
    page = Client(app).get(f"/lists/{ukrainian.id}/sign-up").get_data(as_text=True)
    snippet = html.unescape(re.search(r'id="snippet"[^>]*>(.*?)</textarea>', page, re.S).group(1))
    assert "Ваша адреса електронної пошти" in snippet and "Підписатися: Akcje" in snippet
    assert set(re.findall(r'name="([^"]+)"', snippet)) == {"email", "name", "website"}

    # Posted from a partner's site, the form names no language: the browser's, else the list's.
    fields = {"email": "reader@example.org", "name": "Ana", "website": ""}
    client = app.test_client()
    spanish = client.post("/s/akcje", data=fields, headers={"Accept-Language": "es"})
    assert "Un paso más" in spanish.get_data(as_text=True)
    assert '<option value="es" selected>' in spanish.get_data(as_text=True)
    default = client.post("/s/akcje", data=fields)
    assert '<option value="uk" selected>' in default.get_data(as_text=True)
    assert subscription_of("reader@example.org") is None
