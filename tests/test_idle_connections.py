"""A relay that closes idle sessions costs no recipient an attempt: the worker's kept session
is found dead before the envelope is accepted and replaced at once, for campaigns and for the
outbox; a refusal or a failure on a fresh session is still recorded as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.campaigns import lifecycle
from app.delivery import ledger, smtp
from app.delivery.outbox_sending import send_outbox
from app.extensions import db
from app.mailservers import SmtpSettings
from app.messages import outbox
from app.models import Campaign, Delivery, DeliveryStatus, OutboxMessage
from tests.support.factories import make_campaign, make_list, make_subscribers
from tests.support.sending import send_everything, settings
from tests.support.smtp import RecordingHandler, free_port

# The relay closes a session left idle this long (aiosmtpd's timeout: it just hangs up).
IDLE_LIMIT = 0.6


class CountingHandler(RecordingHandler):
    """The test server's handler, counting sessions and NOOPs, refusing MAIL on request."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.sessions = 0
        self.noops = 0
        self.mail_reply = ""

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        return await super().handle_EHLO(server, session, envelope, hostname, responses)

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:  # noqa: N802
        self.noops += 1
        return "250 OK"

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"


class Relay:
    """A real aiosmtpd server on a free port that drops sessions idle for ``idle`` seconds."""

    def __init__(self, maildir: Path, idle: float) -> None:
        self.port = free_port()
        self.handler = CountingHandler(maildir)
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, timeout=idle
        )
        self.url = f"smtp://127.0.0.1:{self.port}?name=relay&timeout=5"

    @property
    def recipients(self) -> list[str]:
        return [address for item in self.handler.received for address in item.rcpt_tos]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    """A relay with a short idle timeout; this process's SMTP sessions are closed after."""
    server = Relay(tmp_path / "maildir", IDLE_LIMIT)
    server.controller.start()
    yield server
    smtp.close_all()
    server.controller.stop()


@pytest.fixture(params=["probe", "reconnect"])
def detection(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Either way of finding the dead session: probing it after idleness, or (probing off)
    the envelope failing on it."""
    threshold = IDLE_LIMIT / 3 if request.param == "probe" else 3600.0
    monkeypatch.setattr(smtp, "IDLE_PROBE_SECONDS", threshold)
    return str(request.param)


def wait_past_the_idle_limit(relay: Relay, sessions_before: int) -> None:
    """Let the relay's idle timeout close this process's session (a real wait: idleness is
    the behaviour under test)."""
    time.sleep(IDLE_LIMIT * 2)
    assert relay.handler.sessions == sessions_before


def campaign_for(slug: str, count: int) -> tuple[Campaign, list[str], list[ledger.Claimed]]:
    """Start a campaign to a new list and claim its rows here (this process sends them)."""
    members = make_list(slug, slug.title())
    emails = make_subscribers(count, lists=[members], prefix=slug)
    campaign = make_campaign({"en": "Week of action"}, lists=[members])
    lifecycle.start_sending(campaign.id)
    ids = db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)).all()
    return campaign, emails, ledger.claim(ledger.Batch(campaign.id, min(ids), max(ids)))


def deliveries(campaign_id: int) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)))


def test_the_next_campaign_after_an_idle_close_sends_everyone_on_the_first_attempt(
    app, relay: Relay, detection: str
):
    with settings(app, SMTP_URL=relay.url):
        first, first_emails, claimed = campaign_for("monday", 3)
        send_everything(first, claimed)
        assert relay.handler.sessions == 1
        wait_past_the_idle_limit(relay, 1)
        second, second_emails, claimed = campaign_for("tuesday", 3)
        send_everything(second, claimed)
    rows = deliveries(second.id)
    assert [(row.status, row.attempts) for row in rows] == [(DeliveryStatus.SENT, 1)] * 3
    assert sorted(relay.recipients) == sorted(first_emails + second_emails)
    assert relay.handler.sessions == 2
    assert relay.handler.noops == 0  # a closed session is seen by its EOF, no round trip


def test_the_outbox_after_an_idle_close_sends_at_once(
    app, relay: Relay, detection: str, no_dispatcher: None
):
    campaign = make_campaign({"en": "Week of action"}, lists=[make_list("partners", "Partners")])
    with settings(app, SMTP_URL=relay.url):
        outbox.queue_test_sends(campaign, ["ann@example.org"], [])
        assert send_outbox(outbox.claim_due()) == 1
        wait_past_the_idle_limit(relay, 1)
        outbox.queue_test_sends(campaign, ["olena@example.org"], [])
        assert send_outbox(outbox.claim_due()) == 1
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(row.to_address, row.attempts) for row in rows][-2:] == [
        ("ann@example.org", 1),
        ("olena@example.org", 1),
    ]
    assert all(row.reply.startswith("250") for row in rows[-2:])
    assert relay.recipients == ["ann@example.org", "olena@example.org"]


def test_a_live_idle_session_is_probed_once_and_kept(relay_without_limit, monkeypatch):
    monkeypatch.setattr(smtp, "IDLE_PROBE_SECONDS", 0.2)
    relay = relay_without_limit
    connection = smtp.connection_to(settings_of(relay))
    message = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nbody\r\n"
    for number in range(5):  # busy: no probe
        assert (
            connection.send("a@example.org", f"r{number}@example.org", message).reply[:3] == "250"
        )
    assert (relay.handler.noops, relay.handler.sessions) == (0, 1)
    time.sleep(0.3)
    assert connection.send("a@example.org", "late@example.org", message).reply[:3] == "250"
    assert (relay.handler.noops, relay.handler.sessions) == (1, 1)


def test_a_relay_that_keeps_refusing_costs_one_fresh_try_only(relay: Relay, monkeypatch):
    monkeypatch.setattr(smtp, "IDLE_PROBE_SECONDS", 3600.0)
    connection = smtp.connection_to(settings_of(relay))
    message = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nbody\r\n"
    assert connection.send("a@example.org", "ann@example.org", message).reply[:3] == "250"
    relay.handler.mail_reply = "421 4.3.2 shutting down"
    result = connection.send("a@example.org", "olena@example.org", message)
    assert result.outcome is smtp.ReplyKind.RETRY and not result.unreachable
    assert "421 4.3.2 shutting down" in result.reply
    assert relay.handler.sessions == 2  # the reused session, then one fresh one: no more
    result = connection.send("a@example.org", "olena@example.org", message)
    assert "421 4.3.2 shutting down" in result.reply
    assert relay.handler.sessions == 3  # a fresh session that refuses is not tried again


def test_a_refusal_on_a_reused_session_is_not_retried(relay: Relay):
    connection = smtp.connection_to(settings_of(relay))
    message = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nbody\r\n"
    assert connection.send("a@example.org", "ann@example.org", message).reply[:3] == "250"
    relay.handler.behaviour["gone@example.org"] = "rcpt:550 5.1.1 no such user"
    result = connection.send("a@example.org", "gone@example.org", message)
    assert result.outcome is smtp.ReplyKind.BOUNCE
    assert relay.handler.sessions == 1


@pytest.fixture
def relay_without_limit(tmp_path: Path) -> Iterator[Relay]:
    """A relay that keeps idle sessions open (aiosmtpd's default five minutes)."""
    server = Relay(tmp_path / "maildir", 300)
    server.controller.start()
    yield server
    smtp.close_all()
    server.controller.stop()


def settings_of(relay: Relay) -> SmtpSettings:
    return SmtpSettings("smtp", "127.0.0.1", relay.port, name=f"relay-{relay.port}", timeout=5)
