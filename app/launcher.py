"""``tocsin up``: migrate, load the demo once, and run web, worker, beat and catcher together."""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import TextIO

import click
from flask import current_app
from sqlalchemy import func, select

DEMO_EMAIL = "organiser@example.org"
DEMO_LOGIN_FILE = "demo-login.txt"


def _demo_login(instance: Path) -> tuple[str, str]:
    """Create the demo organiser once; its password is kept in the instance folder (0600)."""
    from app.accounts import users
    from app.extensions import db
    from app.models import User

    saved = instance / DEMO_LOGIN_FILE
    if db.session.scalar(select(func.count()).select_from(User)) == 0:
        password = secrets.token_urlsafe(12)
        users.create_user(DEMO_EMAIL, password, "owner")
        descriptor = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{DEMO_EMAIL}\n{password}\n")
    if saved.exists():
        email, password = saved.read_text().split()[:2]
        return email, password
    return "(your account)", "(your password)"


def shown_password(password: str, saved: Path, stream: TextIO) -> str:
    """The password as the banner shows it: on a terminal, itself; anywhere else (a file, a
    pipe, a service's journal: something that keeps it), only where it is kept."""
    if stream.isatty() or not saved.exists():
        return password
    return f"(not shown here: see {saved})"


@click.command("up")
@click.option("--host", default="127.0.0.1", help="Address the panel listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000)
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    default=8025,
    help="Port of the local SMTP catcher.",
)
@click.option(
    "--inbound-port",
    type=click.IntRange(1, 65535),
    default=2526,
    help="Port of the receiver for bounces, complaints and mailto unsubscribes.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    help="Worker processes (each keeps one SMTP connection).",
)
def up(host: str, port: int, smtp_port: int, inbound_port: int, workers: int) -> None:
    """Run everything on this machine: panel, worker, beat, SMTP catcher and the receiver
    of what comes back."""
    from flask_migrate import upgrade
    from honcho.manager import Manager

    from app import demo
    from app.extensions import db
    from app.models import MailingList
    from app.private_files import restrict_umask

    restrict_umask()  # the processes started below inherit it
    upgrade()
    if db.session.scalar(select(func.count()).select_from(MailingList)) == 0:
        click.echo(demo.load(200))
    instance = Path(current_app.instance_path)
    email, password = _demo_login(instance)

    base_url = os.environ.get("TOCSIN_BASE_URL") or f"http://{host}:{port}"
    env = {
        **os.environ,
        "TOCSIN_DATA_DIR": current_app.instance_path,
        "TOCSIN_BASE_URL": base_url,
        "TOCSIN_SMTP_URL": os.environ.get("TOCSIN_SMTP_URL") or f"smtp://127.0.0.1:{smtp_port}",
        "PYTHONUNBUFFERED": "1",
    }
    python = shlex.quote(sys.executable)
    maildir = shlex.quote(current_app.config["CATCHER_MAILDIR"])
    manager = Manager()
    manager.add_process(
        "catcher", f"{python} -m app catcher --port {smtp_port} --maildir {maildir}", env=env
    )
    manager.add_process("inbound", f"{python} -m app inbound serve --port {inbound_port}", env=env)
    manager.add_process(
        "web", f"{python} -m app run --host {host} --port {port} --no-reload", env=env
    )
    # Solo workers, one process each: a crashed worker is just a crashed process (the
    # embedded broker's prefork pool can hang when one of its children is killed).
    for number in range(1, workers + 1):
        manager.add_process(
            f"worker{number}",
            f"{python} -m celery -A worker worker --pool solo --loglevel INFO "
            f"--hostname worker{number}@%h",
            env=env,
        )
    manager.add_process("beat", f"{python} -m celery -A worker beat --loglevel WARNING", env=env)
    click.echo(
        "\n"
        f"  Tocsin panel:  {base_url}/\n"
        f"  Log in as:     {email}\n"
        f"  Password:      {shown_password(password, instance / DEMO_LOGIN_FILE, sys.stdout)}\n"
        f"  Mail catcher:  smtp://127.0.0.1:{smtp_port} (shown in the panel: Mail catcher)\n"
        f"  Bounces in:    smtp/lmtp://127.0.0.1:{inbound_port} (hand the MTA's bounces here)\n"
        f"  Sign-up form:  {base_url}/s/supporters (a public list of the demo)\n"
        f"  Archive:       {base_url}/archive/en/ (once the demo call is sent)\n"
        "  Stop with Ctrl-C.\n"
    )
    manager.loop()
    sys.exit(manager.returncode)
