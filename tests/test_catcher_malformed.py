"""The mail catcher shows any message, however malformed, and only to editors and owners.

Files are dropped into its Maildir as they are, and sent over SMTP to the real catcher;
then an organiser loads the panel's catcher pages.
"""

from __future__ import annotations

import os
import smtplib
from pathlib import Path

import pytest

from app.accounts import users
from app.catcher import list_caught, read_caught, start_catcher
from tests.support.factories import make_list, make_subscriber
from tests.support.maildir import MALFORMED, PLAIN, drop
from tests.support.panel import login
from tests.support.smtp import free_port


@pytest.fixture()
def maildir(app, tmp_path):
    folder = tmp_path / "maildir"
    app.config["CATCHER_MAILDIR"] = str(folder)
    yield folder
    app.config["CATCHER_MAILDIR"] = os.environ["TOCSIN_CATCHER_MAILDIR"]


def organiser(app, role: str = "owner"):
    email = f"{role}@example.org"
    users.create_user(email, "correct horse battery", role)
    client = app.test_client()
    login(client, email)
    return client


def assert_every_page_loads(client, folder: Path, expected: int) -> None:
    listing = client.get("/catcher")
    assert listing.status_code == 200
    keys = [c.key for c in list_caught(folder)]
    assert len(keys) == expected
    for key in keys:
        page = client.get(f"/catcher/{key}")
        assert page.status_code == 200, key
        assert "Mail catcher" in page.get_data(as_text=True)


def test_every_malformed_file_in_the_maildir_is_listed_and_shown(app, maildir):
    drop(maildir, MALFORMED)
    client = organiser(app)
    assert_every_page_loads(client, maildir, len(MALFORMED) + 1)

    attack = read_caught(maildir, "1700000000.encoded-name")
    assert dict(attack.headers)["To"] == (
        '"=?UTF-8?Q?=0A?=Bcc: victim@example.net" <ann@example.org>'
    )
    page = client.get("/catcher/1700000000.encoded-name").get_data(as_text=True)
    assert "Week of action" in page and "Hello" in page
    unknown = read_caught(maildir, "1700000000.unknown-charset")
    assert (unknown.text.strip(), unknown.subject) == ("Body", "abc")
    assert "\ufffd" in read_caught(maildir, "1700000000.binary-junk").text
    assert "café" in read_caught(maildir, "1700000000.eight-bit-headers").html.replace(
        "\ufffd", "é"
    )
    assert "\x00" not in read_caught(maildir, "1700000000.nul-and-controls").text
    assert read_caught(maildir, "1700000001.flagged").subject == "Hello"
    assert client.get("/catcher/a-folder").status_code == 404


def test_malformed_messages_sent_to_the_real_catcher_are_shown(app, maildir):
    port = free_port()
    controller = start_catcher("127.0.0.1", port, maildir)
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for name, data in MALFORMED.items():
                if name == "empty":
                    continue
                # SMTP lines are at most 1,000 bytes: junk goes in lines, as a sender must.
                lines = b"\r\n".join(data[i : i + 500] for i in range(0, len(data), 500))
                smtp.sendmail("sender@example.org", [f"{name}@example.org"], lines)
    finally:
        controller.stop()
    client = organiser(app, "editor")
    assert_every_page_loads(client, maildir, len(MALFORMED) - 1)


@pytest.mark.slow
def test_a_message_to_a_subscriber_named_like_the_attack_is_shown(app, maildir, smtp, run_worker):
    """The worker sends to the test server, which stores into the session's Maildir."""
    from app.campaigns import lifecycle
    from tests.support.factories import make_campaign

    app.config["CATCHER_MAILDIR"] = os.environ["TOCSIN_CATCHER_MAILDIR"]
    people = make_list()
    make_subscriber("ann@example.org", lists=[people], name="=?UTF-8?Q?=0A?=Bcc: v@example.net")
    campaign = make_campaign({"en": "Week of action"}, lists=[people])
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)
    client = organiser(app)
    listing = client.get("/catcher")
    assert listing.status_code == 200
    assert "=?UTF-8?Q?=0A?=Bcc: v@example.net" in listing.get_data(as_text=True)


def test_viewers_do_not_see_the_catcher(app, maildir):
    drop(maildir, {"plain": PLAIN})
    client = organiser(app, "viewer")
    assert client.get("/catcher").status_code == 403
    assert client.get("/catcher/1700000000.plain").status_code == 403
