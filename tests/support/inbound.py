"""Tocsin's side of the return path in tests: a client posting to the webhooks, what was
stored, what became of the subscriber, and the worker's processing run in the test."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.extensions import db
from app.inbound import intake, processing
from app.models import InboundMessage, Subscriber, SubscriberStatus
from tests.support.factories import make_list, make_subscriber

ADDRESS = "ann@example.org"


def configure(app: Flask, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]) -> FlaskClient:
    """Set webhook settings (and the CSRF check) for one test, add the subscriber ``ADDRESS``;
    return a client with no login and no cookie."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    make_subscriber(ADDRESS, lists=[make_list()])
    return app.test_client()


def stored() -> int:
    """How many inbound messages are stored."""
    return db.session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def status_of(address: str = ADDRESS) -> SubscriberStatus:
    """The subscriber's status as the database has it now."""
    db.session.expire_all()
    return db.session.scalars(select(Subscriber.status).where(Subscriber.email == address)).one()


def process_all() -> None:
    """Process what is queued, as the worker does; a worker running alongside may take some,
    so wait (with a deadline) until nothing is left queued or claimed."""
    processing.process(intake.claim_queued())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        db.session.expire_all()
        busy = db.session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.status.in_(["queued", "claimed"]))
        )
        if not busy:
            return
        time.sleep(0.05)  # polling with a deadline: another process holds the lease
    raise AssertionError("inbound messages still waiting after 15 s")


def post(
    client: FlaskClient, provider: str, body: bytes | dict | list, **headers: str
) -> TestResponse:
    """POST a body to a provider's webhook (SNS sends its JSON as text/plain)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = "text/plain; charset=UTF-8" if provider == "ses" else "application/json"
    return client.post(
        f"/webhooks/{provider}", data=data, headers={"Content-Type": kind, **headers}
    )


def refused(response: TestResponse, status: int, reason: str) -> None:
    """The request was refused with ``status`` and a plain reason, no cookie was set, nothing
    was stored and the subscriber is as before."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert reason in response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers
    assert stored() == 0
    assert status_of() == SubscriberStatus.ACTIVE
