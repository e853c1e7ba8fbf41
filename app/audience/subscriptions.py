"""Joining and leaving lists: public sign-ups (stored by the form, applied by the worker),
double opt-in confirmation, and the one-click unsubscribe that every message links to."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert, select, update

from app.addresses import normalize_email
from app.audience import lists as lists_service
from app.audience import suppressions
from app.audience.fields import clean_name
from app.database import claim_each, insert_or_ignore, run_counted
from app.errors import InvalidInput, NotFound
from app.extensions import db
from app.languages import normalize_tag
from app.messages import outbox
from app.models import (
    Campaign,
    ListVisibility,
    MailingList,
    OptIn,
    OutboxKind,
    SignupRequest,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    list_names,
)
from app.models.base import new_uid, utcnow
from app.tokens import HashKeyMismatch, InvalidToken, hasher, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnsubscribeTarget:
    """Who a token points at, and the lists it would leave."""

    subscriber: Subscriber
    lists: list[MailingList]
    # When the campaign started sending: the page's preference link lives as long as the
    # one in that mail, not longer (the unsubscribe link itself never expires).
    sent_at: datetime | None = None


def resolve_unsubscribe(token: str) -> UnsubscribeTarget:
    """Return what an unsubscribe token means; raise ``InvalidToken`` when it means nothing."""
    subscriber_uid, campaign_uid = tokens().read_unsubscribe(token)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == subscriber_uid))
    campaign = db.session.scalar(select(Campaign).where(Campaign.uid == campaign_uid))
    if subscriber is None or campaign is None:
        raise InvalidToken()
    return UnsubscribeTarget(subscriber, list(campaign.lists), campaign.started_at)


def unsubscribe(token: str, goodbye: bool = False) -> UnsubscribeTarget:
    """End the subscriber's subscriptions to the lists the campaign was sent to. Idempotent.

    With ``goodbye`` (someone pressed the button on the page, not a mail client's RFC 8058
    one-click POST), a goodbye email is queued the first time only.
    """
    target = leave(token, goodbye)
    db.session.commit()
    return target


def leave(token: str, goodbye: bool = False) -> UnsubscribeTarget:
    """``unsubscribe`` without the commit: the caller commits (a mailto unsubscribe is
    applied with the rest of its batch)."""
    target = resolve_unsubscribe(token)
    ended = run_counted(
        update(Subscription)
        .where(
            Subscription.subscriber_id == target.subscriber.id,
            Subscription.list_id.in_([mailing_list.id for mailing_list in target.lists]),
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    )
    if goodbye and ended:
        queue_goodbye(
            target.subscriber,
            list_names(target.lists, target.subscriber.language),
            lists_service.first_language(target.lists),
        )
    return target


def queue_goodbye(
    subscriber: Subscriber, names: list[str], list_language: str | None = None
) -> None:
    """Queue the goodbye email for lists a person has just left (their ``names`` in the
    person's language: ``list_names``; ``list_language``: their default language, for a
    reader whose language has no wording); the caller commits."""
    outbox.queue_system_email(
        OutboxKind.GOODBYE,
        subscriber.email,
        subscriber.language,
        {"lists": ", ".join(names), "name": subscriber.name or ""},
        list_language,
    )


CONFIRM_MAX_AGE = 7 * 24 * 3600  # a confirmation link works for a week
CONFIRM_EVERY = timedelta(days=1)  # at most one confirmation mail a day per address


def request_confirmation(subscriber: Subscriber, lists: list[MailingList]) -> bool:
    """Queue a double opt-in mail in the subscriber's language naming ``lists`` (nothing
    for a suppressed address). The caller commits. Returns whether it goes out now.

    At most one such mail a day per address: within a day of the last one, lists it did not
    name are added to a confirmation held until the day is over (one held mail, whatever
    the number of sign-ups meanwhile), so a second list signed up for the same day is asked
    for too, and asking again for the same list sends nothing more."""
    now = utcnow()
    if suppressions.is_blocked(subscriber.email) or not lists:
        return False
    last = subscriber.confirmation_sent_at
    if last is not None and now - last < CONFIRM_EVERY:
        _hold_confirmation(subscriber, lists, last + CONFIRM_EVERY)
        return False
    _queue_confirmation(subscriber, lists)
    subscriber.confirmation_sent_at = now
    return True


def _queue_confirmation(
    subscriber: Subscriber, lists: list[MailingList], not_before: datetime | None = None
) -> None:
    outbox.queue_system_email(
        OutboxKind.CONFIRM,
        subscriber.email,
        subscriber.language,
        _confirmation(subscriber, lists),
        lists_service.first_language(lists),
        not_before=not_before,
    )


def _hold_confirmation(subscriber: Subscriber, lists: list[MailingList], due: datetime) -> None:
    asked, held = outbox.confirmations_to(subscriber.email)
    wanted = {m.id for m in lists} - asked
    if not wanted:
        return
    if held is not None:
        ids = wanted | set(held.payload.get(outbox.LIST_IDS, []))
        lists = list(db.session.scalars(select(MailingList).where(MailingList.id.in_(ids))))
        held.payload = {**held.payload, **_confirmation(subscriber, lists)}
        return
    _queue_confirmation(subscriber, [m for m in lists if m.id in wanted], not_before=due)
    subscriber.confirmation_sent_at = due  # the next day counts from that mail


def _confirmation(subscriber: Subscriber, lists: list[MailingList]) -> dict[str, Any]:
    """A confirmation mail's values: the link confirms exactly ``lists``."""
    lists = sorted(lists, key=lambda m: m.id)
    token = tokens().confirm(subscriber.uid, [m.id for m in lists])
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return {
        "name": subscriber.name or "",
        "lists": ", ".join(m.wording(subscriber.language).name for m in lists),
        "confirm_url": f"{base}/c/{token}",
        outbox.LIST_IDS: [m.id for m in lists],
    }


def language_of(subscriber_uid: str) -> str | None:
    """The language of the subscriber with this uid (for pages before anything changes)."""
    return db.session.scalar(select(Subscriber.language).where(Subscriber.uid == subscriber_uid))


def confirm(token: str) -> tuple[Subscriber, list[MailingList]]:
    """Confirm the subscriptions a double opt-in link names. Idempotent; a link for lists the
    person has since left does not bring them back."""
    subscriber_uid, list_ids = tokens().read_confirm(token, CONFIRM_MAX_AGE)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == subscriber_uid))
    if subscriber is None:
        raise InvalidToken()
    now = utcnow()
    db.session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.list_id.in_(list_ids),
            Subscription.status == SubscriptionStatus.UNCONFIRMED,
        )
        .values(status=SubscriptionStatus.CONFIRMED, confirmed_at=now)
    )
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now
    db.session.commit()
    lists = list(db.session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))))
    return subscriber, lists


class SignUp(enum.StrEnum):
    """What a public sign-up did. For logs and tests only: the page never tells."""

    NEW = "new"  # a new subscriber, confirmation mail queued (or confirmed: single opt-in)
    PENDING = "pending"  # already waiting for confirmation; mail re-sent at most once a day
    ALREADY = "already"  # already confirmed on the list: nothing to do
    REJOINED = "rejoined"  # had left the list; back to unconfirmed, mail queued
    BLOCKED = "blocked"  # suppressed or at a blocked domain: nothing happens


def public_list(slug: str) -> MailingList:
    """Return a public list by slug; private lists do not exist for strangers."""
    found = db.session.scalar(
        select(MailingList).where(
            MailingList.slug == slug, MailingList.visibility == ListVisibility.PUBLIC
        )
    )
    if found is None:
        raise NotFound("no such list")
    return found


def request_sign_up(mailing_list: MailingList, email: str, name: str, language: str) -> None:
    """Store a public form's sign-up for the worker (``process_sign_ups``) and commit.

    Only what needs no look-up is checked here: the address and the name (``InvalidInput``
    naming the field) and the language (an unknown one means the list's default). Whether
    the address is new, waiting, subscribed or suppressed, this is the same one INSERT.
    """
    address = normalize_email(email)
    name = clean_name(name)
    try:
        language = normalize_tag(language) if language.strip() else mailing_list.default_language
    except InvalidInput:
        language = mailing_list.default_language
    db.session.execute(
        insert(SignupRequest).values(
            list_id=mailing_list.id,
            email=address,
            name=name,
            language=language,
            created_at=utcnow(),
        )
    )
    db.session.commit()


SIGN_UP_BATCH = 200  # sign-up requests applied per dispatcher tick
SIGN_UP_ATTEMPTS = 5  # a request that fails this often is dropped (and logged)


def process_sign_ups(limit: int = SIGN_UP_BATCH) -> int:
    """Apply waiting sign-up requests, oldest first; return how many were applied.

    A request is claimed by deleting its row in the transaction that applies it: another
    worker deleting the same row finds nothing to do, and a worker that dies leaves the
    request waiting. A request that fails is rolled back, logged and tried on the next tick,
    at most ``SIGN_UP_ATTEMPTS`` times; then it is dropped (the reader may sign up again).
    """
    table = SignupRequest.__table__
    try:
        hasher()  # with another key than the suppressions', a suppressed address would pass
    except HashKeyMismatch:
        db.session.rollback()
        return 0  # the requests wait, untouched, until the key is set right (logged)
    applied = 0
    for request in claim_each(table, limit):
        try:
            mailing_list = db.session.get(MailingList, request.list_id)
            if mailing_list is not None:
                apply_sign_up(mailing_list, request.email, request.name, request.language)
            db.session.commit()
            applied += 1
        except Exception:  # noqa: BLE001 - one bad request must not stop the others
            db.session.rollback()
            _failed(request.id, request.attempts + 1)
    return applied


def _failed(request_id: int, attempts: int) -> None:
    table = SignupRequest.__table__
    if attempts >= SIGN_UP_ATTEMPTS:
        log.exception("sign-up request %s failed %s times; dropped", request_id, attempts)
        db.session.execute(delete(table).where(table.c.id == request_id))
    else:
        log.exception("sign-up request %s failed; it stays queued", request_id)
        db.session.execute(update(table).where(table.c.id == request_id).values(attempts=attempts))
    db.session.commit()


def apply_sign_up(mailing_list: MailingList, address: str, name: str, language: str) -> SignUp:
    """Subscribe an address a public form gave (checked by ``request_sign_up``): double
    opt-in unless the list says single. The caller commits.

    The address is only ever confirmed by its owner; an existing subscriber's name and
    language are not changed by a stranger's form; a suppressed address, one at a blocked
    domain or a subscriber who is not active gets nothing. Safe against a concurrent sign-up
    or import of the same address: an address stored meanwhile counts as known.
    """
    if suppressions.is_blocked(address):
        return SignUp.BLOCKED
    now = utcnow()
    single = mailing_list.optin == OptIn.SINGLE
    db.session.execute(
        insert_or_ignore(Subscriber.__table__).values(
            uid=new_uid(),
            email=address,
            email_hash=hasher().email_hash(address),
            name=name,
            language=language,
            consent_source=f"sign-up form: {mailing_list.slug}",
            consent_at=now,
            confirmed_at=now if single else None,
            created_at=now,
        )
    )
    # Locked (PostgreSQL) so that sign-ups of one address are applied one after the other.
    subscriber = db.session.scalars(
        select(Subscriber)
        .where(Subscriber.email == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if subscriber.status != SubscriberStatus.ACTIVE:
        return SignUp.BLOCKED
    table = Subscription.__table__
    inserted = db.session.execute(
        insert_or_ignore(table)
        .values(
            subscriber_id=subscriber.id,
            list_id=mailing_list.id,
            status=SubscriptionStatus.UNCONFIRMED,
            created_at=now,
        )
        .returning(table.c.id)
    ).first()
    subscription = db.session.scalars(
        select(Subscription)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.list_id == mailing_list.id,
        )
        .execution_options(populate_existing=True)
    ).one()
    if inserted:
        outcome = SignUp.NEW
    elif subscription.status == SubscriptionStatus.CONFIRMED:
        return SignUp.ALREADY
    elif subscription.status == SubscriptionStatus.UNSUBSCRIBED:
        outcome = SignUp.REJOINED
    else:
        outcome = SignUp.PENDING
    if single:
        subscription.status, subscription.confirmed_at = SubscriptionStatus.CONFIRMED, now
        subscription.unsubscribed_at = None
    else:
        subscription.status, subscription.unsubscribed_at = SubscriptionStatus.UNCONFIRMED, None
        request_confirmation(subscriber, [mailing_list])
    return outcome
