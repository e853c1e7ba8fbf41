"""A name is text, never header syntax: whatever a person types as a name (or an organiser as
a From name) reaches a reader's client as exactly those characters, and never adds a header.

``=?UTF-8?Q?=0A?=`` is an RFC 2047 encoded-word for a line break: written into a header as
is, a decoder turns it into one. Text holding ``=?`` is therefore always encoded whole.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import tomli_w
from sqlalchemy import select

from app.campaigns import drafts, lifecycle
from app.extensions import db
from app.messages import outbox
from emails.mime import build_message, encode_header_value, format_address
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.signup import post

ATTACK = "=?UTF-8?Q?=0A?=Bcc: victim@example.net"
SPELLINGS = [
    ATTACK,
    "=?utf-8?q?=0A?= Bcc: victim@example.net",
    "Ann =?UTF-8?B?CkJjYzogdmljdGltQGV4YW1wbGUubmV0?=",
    "=?iso-8859-1?q?=0D=0ABcc:_victim@example.net?=",
    'Quoted "=?UTF-8?Q?=0A?=" \\ name',
    "Олена =?UTF-8?Q?=0A?=Bcc: v@example.net",
]


def parse(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)  # type: ignore[return-value]


def build(name: str, subject: str = "Hello", sender: str = "News <news@example.org>") -> bytes:
    return build_message(
        sender=sender,
        recipient=format_address(name, "ann@example.org"),
        subject=subject,
        text="Text",
        html="<p>Hi</p>",
        message_id="<abc@example.org>",
        date=datetime(2025, 2, 24, 9, 0, tzinfo=UTC),
        extra_headers={"Content-Language": "en"},
    )


def assert_only_the_typed_name(message: EmailMessage, header: str, name: str, address: str):
    """The header holds one address whose display name is exactly the typed text."""
    assert message["Bcc"] is None and message["Cc"] is None
    [parsed] = message[header].addresses
    assert (parsed.display_name, parsed.addr_spec) == (name, address)


@pytest.mark.parametrize("name", SPELLINGS)
def test_an_encoded_word_typed_as_a_name_comes_back_as_the_typed_text(name):
    message = parse(build(name, subject=name, sender=format_address(name, "news@example.org")))
    assert_only_the_typed_name(message, "To", name, "ann@example.org")
    assert_only_the_typed_name(message, "From", name, "news@example.org")
    assert str(message["Subject"]) == name
    assert all(not part.defects for part in message.walk())


@pytest.mark.parametrize("name", SPELLINGS)
def test_an_rfc_2047_decoder_gets_the_typed_text_too(name):
    """The stdlib's strict RFC 2047 decoder, as mail clients decode a header's words."""
    head = build(name, subject=name).split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = head.replace("\r\n ", " ")
    subject = next(line for line in unfolded.split("\r\n") if line.startswith("Subject: "))
    assert str(make_header(decode_header(subject.removeprefix("Subject: ")))) == name


def test_plain_names_and_subjects_stay_readable_as_they_were():
    assert format_address("Ann Example", "ann@example.org") == "Ann Example <ann@example.org>"
    assert format_address("", "ann@example.org") == "ann@example.org"
    assert encode_header_value("Week of action: 24 February") == "Week of action: 24 February"
    assert encode_header_value("Price = 5? Yes") == "Price = 5? Yes"


def test_a_long_name_with_an_encoded_word_stays_within_line_limits():
    """Split over several encoded-words; Python's own parser then shows a space between
    them (RFC 2047 says to drop it, as mail clients do), so the decoder here is the RFC's."""
    name = ("Олена =?UTF-8?Q?=0A?=Bcc: victim@example.net " * 5).strip()
    data = build(name)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    message = parse(data)
    assert message["Bcc"] is None
    unfolded = data.decode("ascii").replace("\r\n ", " ")  # RFC 5322 unfolding
    to = next(line for line in unfolded.split("\r\n") if line.startswith("To: "))
    assert str(make_header(decode_header(to[4:].rsplit(" <", 1)[0]))) == name


@pytest.mark.slow
def test_a_real_send_delivers_the_typed_name(app, run_worker, smtp):
    people = make_list()
    make_subscriber("ann@example.org", lists=[people], name=ATTACK)
    campaign = make_campaign({"en": "Week of action"}, lists=[people])
    assert lifecycle.start_sending(campaign.id) == 1
    run_worker.until_sent(campaign.id)
    [received] = smtp.handler.received
    assert_only_the_typed_name(received.message, "To", ATTACK, "ann@example.org")
    assert received.rcpt_tos == ["ann@example.org"]


def wait_for(smtp, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(smtp.messages) < count:
        time.sleep(0.1)
    assert len(smtp.messages) >= count, "the mail never came"


@pytest.mark.slow
def test_a_test_send_carries_the_typed_from_name(app, run_worker, smtp):
    campaign = make_campaign({"en": ATTACK}, from_address=f'"{ATTACK}" <news@example.org>')
    assert outbox.queue_test_sends(campaign, ["editor@example.org"], []) == 1
    wait_for(smtp, 1)
    [received] = smtp.handler.received
    assert_only_the_typed_name(received.message, "From", ATTACK, "news@example.org")
    assert str(received.message["Subject"]) == f"[Test] {ATTACK}"
    assert received.rcpt_tos == ["editor@example.org"]


@pytest.mark.slow
def test_a_sign_up_confirmation_carries_the_typed_name(app, signup, run_worker, smtp):  # noqa: F811
    answer = post(app.test_client(), "olena@example.org", name=ATTACK)
    assert answer.status_code == 200
    wait_for(smtp, 1)
    [received] = smtp.handler.received
    assert_only_the_typed_name(received.message, "To", ATTACK, "olena@example.org")
    assert received.rcpt_tos == ["olena@example.org"]


EVIL_FROM = "Evil\r\nBcc: x\x00 Name <news@example.org>"
EVIL_SENDERS = [
    EVIL_FROM,
    "Evil\nBcc: victim@example.net <news@example.org>",
    "Tab\tName <news@example.org>",
    "=?utf-8?q?Evil=0D=0ABcc:_victim@example.net?= <news@example.org>",
]


@pytest.mark.parametrize("sender", EVIL_SENDERS)
def test_the_campaign_form_refuses_a_from_with_control_characters(app, sender):
    from app.accounts import users
    from app.models import Campaign
    from tests.support.panel import Client

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    people = make_list()
    campaign = make_campaign({"en": "Hello"}, lists=[people], from_address="News <n@example.org>")
    client = Client(app)
    for path in ("/campaigns/new", f"/campaigns/{campaign.id}/settings"):
        page = client.post(
            path,
            {
                "name": "Spring",
                "lists": [people.id],
                "default_language": "en",
                "from_address": sender,
            },
        ).get_data(as_text=True)
        assert '<span class="error">From: no line breaks' in page, path
    db.session.expire_all()
    assert [c.from_address for c in db.session.scalars(select(Campaign))] == [
        "News <n@example.org>"
    ]


@pytest.mark.parametrize("sender", EVIL_SENDERS)
def test_the_settings_service_and_a_campaign_file_refuse_it_too(app, sender):
    from app.campaigns import campaign_files
    from app.errors import InvalidInput
    from app.models import Campaign

    people = make_list("people")
    with pytest.raises(InvalidInput, match="From: a sender may not hold control characters") as e:
        drafts.create_campaign("Spring", lists=[people], from_address=sender)
    assert e.value.field == "from_address"
    text = tomli_w.dumps({"name": "Spring", "lists": ["people"], "from": sender})
    with pytest.raises(InvalidInput, match="From: a sender may not hold control characters"):
        campaign_files.import_text(text, "toml")
    assert db.session.scalars(select(Campaign)).all() == []


def test_a_from_name_is_stored_and_shown_as_typed(app):
    people = make_list()
    for typed, stored in [
        ("Олена <News@Example.org>", "Олена <news@example.org>"),
        (f'"{ATTACK}" <news@example.org>', f'"{ATTACK}" <news@example.org>'),
        ("=?utf-8?b?0J7Qu9C10L3QsA==?= <news@example.org>", "Олена <news@example.org>"),
    ]:
        campaign = drafts.create_campaign("Spring", lists=[people], from_address=typed)
        assert campaign.from_address == stored


@pytest.mark.parametrize("sender", EVIL_SENDERS)
def test_tocsin_from_with_control_characters_stops_the_start(sender):
    from app import config
    from app.errors import ConfigError

    values = config.defaults("/srv/tocsin")
    with pytest.raises(ConfigError, match="TOCSIN_FROM may not hold"):
        config.check({**values, "MAIL_FROM": sender})
    with pytest.raises(ConfigError, match="TOCSIN_FROM must be a sender"):
        config.check({**values, "MAIL_FROM": "nobody"})
    config.check({**values, "MAIL_FROM": "Solidarity Collectives <news@example.org>"})


def test_the_app_does_not_start_with_such_a_tocsin_from(monkeypatch):
    from app import create_app
    from app.errors import ConfigError

    monkeypatch.setenv("TOCSIN_FROM", "Evil\r\nBcc: x Name <news@example.org>")
    with pytest.raises(ConfigError, match="TOCSIN_FROM"):
        create_app({"TESTING": True})


@pytest.mark.parametrize(
    "address", ["=?utf-8?q?=0A?=@example.org", "a=?b@example.org", "x.=?UTF-8?Q?Bcc?=@example.org"]
)
def test_an_address_holding_an_encoded_word_is_refused_wherever_it_enters(app, address):
    from app.addresses import normalize_email
    from app.audience import import_rows
    from app.errors import InvalidInput

    for normalize in (normalize_email, import_rows.normalize_address):
        with pytest.raises(InvalidInput, match="may not hold '=\\?'"):
            normalize(address)
