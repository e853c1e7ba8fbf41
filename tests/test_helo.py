"""What a relay sees of a message's envelope and headers: the EHLO name is the sending domain
(or the one configured), never the machine's name; long headers arrive folded into lines of
at most 78 characters, and DKIM still verifies them."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import select

from app import config
from app.campaigns import lifecycle
from app.delivery import ledger, smtp
from app.errors import ConfigError
from app.extensions import db
from app.mailservers import parse_smtp_url
from app.models import Delivery, DeliveryStatus
from tests.support.dkim import DOMAIN, dkimpy_results, ed_record, opendkim_results, rsa_record
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.sending import send_everything, settings
from tests.support.smtp import RecordingHandler, free_port

BASE_URL = "https://news.partner-collectives-network.example.org/tocsin-public-pages"
SUBJECT = "Заклик до тижня дій: 24 лютого – 3 березня, зустрічі в кожному місті мережі"
NAME = "Олена Петренко-Коваленко, координаторка мережі партнерських колективів"


class EhloHandler(RecordingHandler):
    """The test server's handler, remembering the name each session said in EHLO."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.helo_names: list[str] = []

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.helo_names.append(hostname)
        return await super().handle_EHLO(server, session, envelope, hostname, responses)


class Relay:
    """A real aiosmtpd server on a free port."""

    def __init__(self, maildir: Path) -> None:
        self.port = free_port()
        self.handler = EhloHandler(maildir)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.url = f"smtp://127.0.0.1:{self.port}?name=relay"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    server = Relay(tmp_path / "maildir")
    server.controller.start()
    yield server
    smtp.close_all()
    server.controller.stop()


def send_campaign(slug: str, name: str = NAME) -> list[Delivery]:
    """Send a campaign to one reader with a long name, here; return its delivery rows."""
    members = make_list(slug, slug.title())
    make_subscriber(f"{slug}@example.net", name=name, language="uk", lists=[members])
    campaign = make_campaign({"uk": SUBJECT}, lists=[members], default_language="uk")
    lifecycle.start_sending(campaign.id)
    ids = db.session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign.id)).all()
    send_everything(campaign, ledger.claim(ledger.Batch(campaign.id, min(ids), max(ids))))
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)))


def header_lines(raw: bytes) -> list[bytes]:
    """The physical lines of a message's header section."""
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_folded(lines: list[bytes]) -> None:
    """No line passes 998 characters, nor 78 unless it holds a single run without spaces
    (a long URI), which no fold may cut."""
    for line in lines:
        assert len(line) <= 998
        if len(line) > 78:
            text = line[1:] if line[:1] in b" \t" else line.partition(b": ")[2]
            assert b" " not in text, line


def test_ehlo_says_the_sending_domain(app, relay: Relay):
    with settings(app, SMTP_URL=relay.url, MAIL_FROM="Network news <news@news.example.org>"):
        send_campaign("monday")
    assert relay.handler.helo_names == ["news.example.org"]


def test_ehlo_says_the_configured_name_or_the_servers_own(app, relay: Relay):
    with settings(app, SMTP_URL=relay.url, HELO_NAME="Mail.Example.ORG"):
        send_campaign("monday")
    smtp.close_all()
    with settings(app, SMTP_URL=f"{relay.url}&helo=relay-client.example.net", HELO_NAME="x.org"):
        send_campaign("tuesday")
    assert relay.handler.helo_names == ["mail.example.org", "relay-client.example.net"]


@pytest.mark.parametrize("name", ["mail example org", "-bad.example.org", "a_b.example.org", ""])
def test_a_name_unfit_for_ehlo_stops_the_start(name: str):
    values = config.defaults("/srv/tocsin")
    values.update(HELO_NAME=name or " ", MAIL_FROM="News <news@example.org>")
    with pytest.raises(ConfigError, match="TOCSIN_HELO_NAME must be a host name"):
        config.check(values)
    with pytest.raises(ConfigError, match="helo in"):
        parse_smtp_url(f"smtp://relay.example.org?helo={name or '%20'}")


def test_long_headers_arrive_folded_and_read_back_unchanged(app, relay: Relay):
    with settings(app, SMTP_URL=relay.url, BASE_URL=BASE_URL):
        rows = send_campaign("monday")
    assert [row.status for row in rows] == [DeliveryStatus.SENT]
    (received,) = relay.handler.received
    lines = header_lines(received.raw)
    assert_folded(lines)
    unsubscribe = [line for line in lines if line.startswith(b"List-Unsubscribe:")][0]
    assert unsubscribe.endswith(b">,")  # folded at the comma between the two URIs
    message = email.message_from_bytes(received.raw, policy=policy.default)
    assert str(message["Subject"]) == SUBJECT
    # RFC 2047 decoding (whitespace between encoded-words ignored); the stdlib's address
    # parser puts spaces between them, whatever the folding.
    to = email.message_from_bytes(received.raw)["To"]
    assert str(make_header(decode_header(to))) == f"{NAME} <monday@example.net>"
    links = str(message["List-Unsubscribe"])
    assert links.startswith(f"<{BASE_URL}/u/") and ">, <mailto:unsubscribe@" in links
    assert "\r" not in links and "\n" not in links


def test_dkim_verifies_folded_headers_with_both_verifiers(app, relay: Relay):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem = serialization.Encoding.PEM
    pkcs8, none = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    keys = ",".join(key.private_bytes(pem, pkcs8, none).decode() for key in (rsa_key, ed_key))
    records = {
        f"news-rsa._domainkey.{DOMAIN}": rsa_record(rsa_key),
        f"news-ed._domainkey.{DOMAIN}": ed_record(ed_key),
    }
    with settings(
        app,
        SMTP_URL=relay.url,
        BASE_URL=BASE_URL,
        MAIL_FROM=f"Мережа партнерських колективів: новини тижня <news@{DOMAIN}>",
        DKIM_KEY=keys,
        DKIM_SELECTOR="news-rsa,news-ed",
    ):
        send_campaign("monday")
    (received,) = relay.handler.received
    assert_folded(header_lines(received.raw))
    assert dkimpy_results(received.raw, records) == [True, True]
    assert opendkim_results(received.raw, records) == [True, True]
