"""Guessing passwords: failed logins are throttled per typed account and per client
address, tier by tier, with Retry-After; known and unknown accounts get the same answers;
only failures count; every failure is logged without the password. On PostgreSQL + Redis
(``TOCSIN_TEST_BROKER_URL``) the counters are Redis's, shared by every web process."""

from __future__ import annotations

import logging
import re
import time

import pytest
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.accounts import logins, users
from app.extensions import limiter
from tests.support.panel import csrf_token

EMAIL = "organiser@example.org"
PASSWORD = "correct horse battery"


@pytest.fixture()
def owner(app):
    limiter.reset()
    saved = {k: app.config[k] for k in ("LOGIN_ACCOUNT_LIMIT", "LOGIN_CLIENT_LIMIT")}
    yield users.create_user(EMAIL, PASSWORD, "owner")
    app.config.update(saved)
    limiter.reset()


def attempt(app, email=EMAIL, password="wrong password!", ip="198.51.100.7", client=None):
    client = client or app.test_client()
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def comparable(response, typed: str) -> tuple:
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k != "Date"))
    body = response.get_data(as_text=True).replace(typed, "<address>")
    body = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", body)
    body = re.sub(r"'nonce-[^']+'|nonce=\"[^\"]+\"", "", body)
    headers = tuple((k, re.sub(r"'nonce-[^']+'", "", v)) for k, v in headers)
    # The seconds left depend on when the lock began, not on the account: a lock is the same
    # answer if its wait is within the same few seconds of its window.
    headers = tuple((k, str(round(int(v), -1)) if k == "Retry-After" else v) for k, v in headers)
    return response.status_code, headers, body


def test_a_hundred_guesses_are_stopped_and_the_right_password_waits_too(app, owner):
    statuses = [attempt(app).status_code for _ in range(20)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    locked = attempt(app, password=PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert "Too many failed logins. Try again in a minute." in locked.get_data(as_text=True)
    assert locked.headers.get("Location") is None  # not logged in
    assert attempt(app, password=PASSWORD, ip="203.0.113.9").status_code == 429  # per account


def test_other_spellings_of_the_address_share_its_counter(app, owner):
    for typed in ("Organiser@Example.org", " organiser@EXAMPLE.ORG ", "ORGANISER@example.org"):
        assert attempt(app, email=typed).status_code == 401
    assert attempt(app, email="organiser@example.org").status_code == 401
    assert attempt(app, email="organiser@example.org").status_code == 401
    assert attempt(app, email="Organiser@example.ORG", password=PASSWORD).status_code == 429


def test_one_client_guessing_many_accounts_is_stopped(app, owner):
    statuses = [attempt(app, email=f"guess{n}@example.org").status_code for n in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert attempt(app, password=PASSWORD).status_code == 429  # the real account too
    assert attempt(app, password=PASSWORD, ip="203.0.113.9").status_code == 302


def test_an_ipv6_client_is_counted_by_its_64_network(app, owner):
    for n in range(10):
        attempt(app, email=f"guess{n}@example.org", ip=f"2001:db8:1:2::{n + 1:x}")
    assert attempt(app, email="x@example.org", ip="2001:db8:1:2:ffff::1").status_code == 429
    assert attempt(app, email="x@example.org", ip="2001:db8:1:3::1").status_code == 401


def test_known_and_unknown_accounts_get_the_same_answers(app, owner):
    unknown = "organizer@example.org"  # as long as the known one: the page shows what was typed
    answers = {}
    for email in (EMAIL, unknown):
        wrong = [comparable(attempt(app, email=email), email) for _ in range(5)]
        locked = comparable(attempt(app, email=email), email)
        answers[email] = (wrong, locked)
        limiter.reset()
    assert answers[EMAIL] == answers[unknown]
    wrong, locked = answers[EMAIL]
    assert {w[0] for w in wrong} == {401} and locked[0] == 429
    assert "Set-Cookie" not in dict(wrong[0][1])


def test_successes_are_not_counted(app, owner):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "2 per minute"
    for _ in range(5):
        assert attempt(app, password=PASSWORD).status_code == 302
    assert attempt(app).status_code == 401
    assert attempt(app, password=PASSWORD).status_code == 302
    assert attempt(app).status_code == 401
    assert attempt(app, password=PASSWORD).status_code == 429


def test_each_tier_locks_for_longer(app, owner):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "2 per 2 seconds; 4 per hour"
    attempt(app), attempt(app)
    first = attempt(app)
    # Redis reports its expiry in whole seconds: a second either way
    assert first.status_code == 429 and int(first.headers["Retry-After"]) <= 3
    time.sleep(int(first.headers["Retry-After"]) + 0.2)
    assert attempt(app).status_code == 401
    assert attempt(app).status_code == 401
    second = attempt(app, password=PASSWORD)
    assert second.status_code == 429 and 3500 < int(second.headers["Retry-After"]) <= 3601
    assert "Try again in 60 minutes." in second.get_data(as_text=True)


def test_an_attempt_takes_its_place_before_the_password_is_checked(app, owner, monkeypatch):
    """Parallel guesses cannot all pass the test before any is counted: a second attempt
    made while the first is being checked finds the only place taken."""
    app.config["LOGIN_ACCOUNT_LIMIT"] = "1 per minute"
    real = users.authenticate
    during = []

    def checking(email: str, password: str):
        during.append(logins.attempt(email, "another guess", "203.0.113.9"))
        return real(email, password)

    monkeypatch.setattr(users, "authenticate", checking)
    outcome = logins.attempt(EMAIL, "a guess", "198.51.100.7")
    assert outcome.user is None and outcome.retry_after == 0
    assert during[0].retry_after > 0


def test_attempts_refused_while_locked_do_not_lengthen_the_lock(app, owner):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "2 per 2 seconds; 5 per hour"
    attempt(app), attempt(app)
    for _ in range(10):
        assert attempt(app).status_code == 429
    time.sleep(2.2)
    assert attempt(app).status_code == 401  # the hour's tier counted only the failures


def test_failures_and_lockouts_are_logged_without_the_password(app, owner, caplog):
    caplog.set_level(logging.INFO, logger="tocsin.security")
    for _ in range(6):
        attempt(app, email="Organiser@Example.org", password="hunter2 secret guess")
    lines = [r.getMessage() for r in caplog.records if r.name == "tocsin.security"]
    assert "login failed for 'Organiser@Example.org' from 198.51.100.7" in lines
    assert any(
        line.startswith("login refused for 'Organiser@Example.org' from 198.51.100.7: too many")
        for line in lines
    )
    assert not any("hunter2" in line for line in lines)


def test_an_operator_can_unlock_an_account(app, owner):
    for _ in range(6):
        attempt(app)
    assert attempt(app, password=PASSWORD, ip="203.0.113.9").status_code == 429
    result = app.test_cli_runner().invoke(args=["users", "unlock", EMAIL])
    assert result.exit_code == 0, result.output
    assert attempt(app, password=PASSWORD, ip="203.0.113.9").status_code == 302


def test_the_counters_are_in_the_shared_storage(app, owner):
    """Another process reading the limiter's storage sees the lockout (Redis when the broker
    is Redis, as in production)."""
    uri = app.config["RATELIMIT_STORAGE_URI"]
    if app.config["BROKER_URL"].startswith("redis"):
        assert uri.startswith("redis")
    for _ in range(5):
        attempt(app)
    if not uri.startswith("redis"):
        pytest.skip("memory storage is one process's (the embedded set-up)")
    elsewhere = FixedWindowRateLimiter(storage_from_string(uri))
    minute = parse_many(app.config["LOGIN_ACCOUNT_LIMIT"])[0]
    key = logins.account_key(EMAIL)
    assert not elsewhere.test(minute, "login", "account", key)


def test_the_days_tier_says_hours(app, owner):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "1 per day"
    assert attempt(app).status_code == 401
    locked = attempt(app, password=PASSWORD)
    assert locked.status_code == 429 and 86000 < int(locked.headers["Retry-After"]) <= 86401
    assert "Try again in 24 hours." in locked.get_data(as_text=True)
