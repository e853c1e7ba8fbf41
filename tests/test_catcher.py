"""The development catcher: `tocsin catcher` stores mail in a Maildir the panel shows."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage

from app.accounts import users
from app.catcher import list_caught, read_caught
from tests.support.panel import login
from tests.support.smtp import free_port


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the catcher never listened")


def test_catcher_command_stores_mail_that_the_panel_lists(app, tmp_path):
    port, maildir = free_port(), tmp_path / "maildir"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "catcher", "--port", str(port), "--maildir", str(maildir)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
        message = EmailMessage()
        message["From"], message["To"] = "news@example.org", "olena@example.org"
        message["Subject"] = "Тиждень дій"
        message.set_content("Привіт")
        message.add_alternative("<p>Привіт</p>", subtype="html")
        message["Content-Language"] = "uk"  # after set_content, which drops Content-* headers
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        process.stdout.close()

    [caught] = list_caught(maildir)
    assert (caught.to, caught.subject, caught.language) == (
        "olena@example.org",
        "Тиждень дій",
        "uk",
    )
    stored = read_caught(maildir, caught.key)
    assert dict(stored.headers)["Delivered-To"] == "olena@example.org"

    app.config["CATCHER_MAILDIR"] = str(maildir)
    try:
        users.create_user("organiser@example.org", "correct horse battery", "owner")
        client = app.test_client()
        login(client)
        assert "Тиждень дій" in client.get("/catcher").get_data(as_text=True)
        page = client.get(f"/catcher/{caught.key}").get_data(as_text=True)
        assert "Привіт" in page and 'sandbox srcdoc="&lt;p&gt;Привіт&lt;/p&gt;' in page
        assert client.get("/catcher/no-such-key").status_code == 404
    finally:
        app.config["CATCHER_MAILDIR"] = os.environ["TOCSIN_CATCHER_MAILDIR"]
