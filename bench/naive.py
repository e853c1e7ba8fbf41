"""The naive baseline: one Celery task per message, premailer per message, a new SMTP
connection per message. Started as ``celery -A bench.naive worker``; it shares the app."""

from __future__ import annotations

import smtplib

from flask import current_app

from app.extensions import db
from app.mailservers import parse_smtp_servers
from app.messages.composing import MessageFactory, Recipient
from app.models import Campaign, Delivery, DeliveryStatus, Subscriber
from app.models.base import utcnow
from worker import celery


@celery.task(acks_late=True)
def naive_send(delivery_id: int) -> None:
    """Load, render (inlining CSS again), connect, send, record: all for one message."""
    delivery = db.session.get(Delivery, delivery_id)
    subscriber = db.session.get(Subscriber, delivery.subscriber_id)
    campaign = db.session.get(Campaign, delivery.campaign_id)
    factory = MessageFactory(campaign, current_app.config)  # premailer runs here, every time
    recipient = Recipient(
        subscriber.uid,
        subscriber.email,
        subscriber.name,
        subscriber.language,
        None,
        subscriber.attributes,
    )
    message = factory.build(recipient, utcnow())
    server = parse_smtp_servers(current_app.config["SMTP_URL"])[0]
    with smtplib.SMTP(server.host, server.port) as connection:
        connection.sendmail(message.envelope_from, [message.recipient], message.data)
    delivery.status = DeliveryStatus.SENT
    db.session.commit()
