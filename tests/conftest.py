"""Test setup: a real database (SQLite, or PostgreSQL via TOCSIN_TEST_DATABASE_URL), a real
SMTP server on loopback, and real Celery worker processes on a real broker.

Environment is set before the app is built so that the worker subprocess, which reads the
same ``TOCSIN_*`` variables, talks to the same database, broker and SMTP server.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import text

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, EMAIL, PASSWORD, PHONE
from tests.support.live_server import LiveServer
from tests.support.panel import Client
from tests.support.smtp import SmtpServer, free_port
from tests.support.worker import WorkerProcess

SESSION_DIR = Path(tempfile.mkdtemp(prefix="tocsin-tests-"))
DATABASE_URL = os.environ.get("TOCSIN_TEST_DATABASE_URL") or f"sqlite:///{SESSION_DIR / 'test.db'}"
BROKER_URL = (
    os.environ.get("TOCSIN_TEST_BROKER_URL") or f"sqla+sqlite:///{SESSION_DIR / 'broker.db'}"
)
SMTP_PORT = free_port()

os.environ.update(
    {
        "TOCSIN_DATA_DIR": str(SESSION_DIR / "instance"),
        "TOCSIN_DATABASE_URL": DATABASE_URL,
        "TOCSIN_BROKER_URL": BROKER_URL,
        # The same test server twice: `main` for every campaign, `slow` (rate-limited) and
        # `dead` (nobody listens) only for a campaign that names them.
        "TOCSIN_SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}?name=main "
        f"smtp://127.0.0.1:{SMTP_PORT}?name=slow&weight=0&rate=20 "
        f"smtp://127.0.0.1:{free_port()}?name=dead&weight=0&timeout=2",
        "TOCSIN_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "TOCSIN_BASE_URL": "https://news.example.org",
        "TOCSIN_FROM": "Solidarity Collectives <news@example.org>",
        "TOCSIN_CATCHER_MAILDIR": str(SESSION_DIR / "maildir"),
        "TOCSIN_DISPATCH_INTERVAL": "0.3",
        "TOCSIN_BATCH_SIZE": "50",
        # Short leases and re-dispatch so that crash recovery shows within a test.
        "TOCSIN_LEASE_SECONDS": "10",
        "TOCSIN_REDISPATCH_SECONDS": "5",
        "TOCSIN_RETRY_BASE_SECONDS": "0.5",
    }
)


def _reset_database() -> None:
    """Start the session from an empty database (the PostgreSQL one is shared)."""
    if DATABASE_URL.startswith("postgresql"):
        from sqlalchemy import create_engine

        engine = create_engine(DATABASE_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    if BROKER_URL.startswith("redis"):
        import redis

        redis.Redis.from_url(BROKER_URL).flushdb()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app, on a database migrated once for the whole session."""
    from flask_migrate import upgrade

    from app import create_app

    _reset_database()
    flask_app = create_app({"TESTING": True})
    with flask_app.app_context():
        upgrade()
    yield flask_app
    from app.extensions import db

    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table before each test that uses the app; keep the schema.

    The session's worker may still be writing what an earlier test left it; when
    PostgreSQL picks the emptying as a deadlock's victim, it is rolled back and tried again.
    """
    if "app" not in request.fixturenames:
        yield
        return
    flask_app: Flask = request.getfixturevalue("app")
    from sqlalchemy.exc import OperationalError

    from app.audience import counts
    from app.extensions import db

    with flask_app.app_context():
        for attempt in range(5):
            try:
                for table in reversed(db.metadata.sorted_tables):
                    db.session.execute(table.delete())
                db.session.commit()
                break
            except OperationalError as exc:
                db.session.rollback()
                if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == 4:
                    raise  # only a deadlock is worth another try
        counts.invalidate()  # the panel's cached counts describe the rows just deleted
        yield
        db.session.remove()


@pytest.fixture()
def no_dispatcher(worker_process: WorkerProcess) -> Iterator[None]:
    """Stop the session's workers and beat while a test claims or applies work itself (rows,
    outbox mails, sign-up requests) and counts what happened: a running dispatcher would
    take some of it. They start again after."""
    worker_process.stop()
    yield
    worker_process.start()


@pytest.fixture(scope="module")
def no_dispatcher_in_module(worker_process: WorkerProcess) -> Iterator[None]:
    """``no_dispatcher`` for a whole module whose tests start campaigns and claim their rows
    themselves: between the start and the claim, a running dispatcher would hand the rows to
    a worker and the test would find nothing to claim."""
    worker_process.stop()
    yield
    worker_process.start()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on loopback, which the worker delivers to."""
    server = SmtpServer(SMTP_PORT, SESSION_DIR / "maildir")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The SMTP server, emptied for this test."""
    smtp_server.reset()
    return smtp_server


@pytest.fixture(scope="session")
def worker_process(app: Flask, smtp_server: SmtpServer) -> Iterator[WorkerProcess]:
    """A real Celery worker (with beat embedded) in its own process, for the whole session."""
    process = WorkerProcess(SESSION_DIR)
    process.start()
    yield process
    process.stop()


@pytest.fixture()
def run_worker(worker_process: WorkerProcess, smtp: SmtpServer) -> WorkerProcess:
    """The running worker; ``until_sent(campaign_id)`` waits for a campaign to finish."""
    worker_process.check_alive()
    return worker_process


@pytest.fixture()
def client(app: Flask) -> Client:
    """A test client logged in as an owner (organiser@example.org), posting forms with their
    CSRF token."""
    from app.accounts import users

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    return Client(app)


@pytest.fixture()
def signup(app):
    """A public double opt-in list, and settings that let tests sign up without waiting."""
    from app.audience import lists
    from app.extensions import limiter

    limiter.reset()
    saved = {k: app.config[k] for k in ("SUBSCRIBE_MIN_SECONDS", "SUBSCRIBE_IP_LIMIT")}
    app.config.update(SUBSCRIBE_MIN_SECONDS=0.0, SUBSCRIBE_IP_LIMIT="1000 per hour")
    yield lists.create_list(
        "actions", "Action alerts", visibility="public", description="Calls to act."
    )
    app.config.update(saved)
    limiter.reset()


@pytest.fixture(scope="module")
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The panel served over HTTP on loopback for this module."""
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium, driven by Playwright; never a downloaded one."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: "
            "install it (apt-get install chromium or `make browser`)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh page in its own browser context (no cookies), based at the live server."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    yield context.new_page()
    context.close()


@pytest.fixture()
def owner_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context at phone width, logged in as an owner."""
    from app.accounts import users

    users.create_user(EMAIL, PASSWORD, "owner")
    context = browser.new_context(base_url=live_server.url, locale="en-GB", viewport=PHONE)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    yield page
    context.close()
