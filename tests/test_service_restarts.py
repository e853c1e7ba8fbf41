"""The broker and the database restart in the middle of a campaign: it still completes,
nobody is lost. These run in the PostgreSQL + Redis pass of .ci/run, where those servers
are ours to restart; the embedded pass has neither."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy.exc import OperationalError

from app.campaigns import lifecycle
from app.extensions import db
from tests.support.factories import make_campaign, make_list, make_subscribers
from tests.support.smtp import recipients

pytestmark = pytest.mark.slow
ON_REDIS = os.environ["TOCSIN_BROKER_URL"].startswith("redis")
ON_POSTGRES = os.environ["TOCSIN_DATABASE_URL"].startswith("postgresql")


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def wait_for(check: tuple[str, ...], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if subprocess.run(check, capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come back")


def restart_redis() -> None:
    run("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave")
    time.sleep(1)
    run(
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "-::1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/var/lib/redis",
        "--logfile",
        "/var/log/redis/ci.log",
    )
    wait_for(("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"), "Redis")


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast")
    time.sleep(1)
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start")
    wait_for(("pg_isready", "-h", "127.0.0.1", "-p", "5432"), "PostgreSQL")


def send_through(restart, run_worker, smtp) -> None:
    partners = make_list("partners", "Partners")
    emails = make_subscribers(400, lists=[partners])
    smtp.handler.delay = 0.01
    campaign_id = make_campaign({"en": "Week of action"}, lists=[partners]).id
    lifecycle.start_sending(campaign_id)
    deadline = time.monotonic() + 60
    while len(smtp.messages) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    db.session.remove()
    restart()
    deadline = time.monotonic() + 120
    while True:
        try:
            run_worker.until_sent(campaign_id, timeout=5)
            break
        except (AssertionError, OperationalError):
            db.session.remove()  # the database went away under this session
            if time.monotonic() > deadline:
                raise
    received = Counter(recipients(smtp.messages))
    assert set(received) == set(emails), "nobody lost"
    assert sum(n - 1 for n in received.values()) <= len(run_worker.workers)


@pytest.mark.skipif(not ON_REDIS, reason="needs the Redis broker (PostgreSQL + Redis pass)")
def test_campaign_completes_across_a_broker_restart(app, run_worker, smtp):
    send_through(restart_redis, run_worker, smtp)


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (PostgreSQL + Redis pass)")
def test_campaign_completes_across_a_database_restart(app, run_worker, smtp):
    send_through(restart_postgres, run_worker, smtp)
