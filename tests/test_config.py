"""Configuration from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import pytest

from app import config
from app.errors import ConfigError
from app.mailservers import SmtpSettings, parse_smtp_url


def settings(**overrides):
    values = config.defaults("/srv/tocsin")
    values.update(overrides)
    return values


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigError, match="TOCSIN_SECRET_KEY"):
        config.check(settings(TOCSIN_ENV="production"))
    config.check(
        settings(
            TOCSIN_ENV="production",
            SECRET_KEY="a-long-random-production-key",
            HASH_KEY="another-long-random-key",
        )
    )


def test_defaults_are_embedded_sqlite_and_local_catcher():
    values = config.defaults("/srv/tocsin")
    assert values["SQLALCHEMY_DATABASE_URI"] == "sqlite:////srv/tocsin/tocsin.db"
    assert values["BROKER_URL"] == "sqla+sqlite:////srv/tocsin/broker.db"
    assert values["SMTP_URL"] == "smtp://127.0.0.1:8025"


def test_environment_numbers_are_checked():
    assert config.from_environment({"TOCSIN_BATCH_SIZE": "500"}) == {"BATCH_SIZE": 500}
    with pytest.raises(ConfigError, match="TOCSIN_BATCH_SIZE must be a number"):
        config.from_environment({"TOCSIN_BATCH_SIZE": "lots"})


def test_base_url_must_be_http():
    with pytest.raises(ConfigError, match="TOCSIN_BASE_URL"):
        config.check(settings(BASE_URL="news.example.org"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", SmtpSettings("smtp", "127.0.0.1", 2525)),
        ("smtp://mail.example.org", SmtpSettings("smtp", "mail.example.org", 25)),
        (
            "smtp+starttls://user%40x:p%3Ass@relay.example.org:587",
            SmtpSettings("smtp+starttls", "relay.example.org", 587, "user@x", "p:ss"),
        ),
        ("smtps://relay.example.org", SmtpSettings("smtps", "relay.example.org", 465)),
    ],
)
def test_smtp_urls(url, expected):
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://host:99999", "mail.example.org"])
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(ConfigError, match="TOCSIN_SMTP_URL"):
        parse_smtp_url(url)


def test_a_bad_smtp_url_stops_the_start():
    with pytest.raises(ConfigError, match="TOCSIN_SMTP_URL"):
        config.check(settings(SMTP_URL="smtp://relay.example.org?rate=fast"))
    with pytest.raises(ConfigError, match="different"):
        config.check(settings(SMTP_URL="smtp://a.example.org smtp://b.example.org"))


def test_rate_limit_counters_live_in_redis_when_the_broker_is_redis():
    from app.config import rate_limit_storage

    assert rate_limit_storage({"BROKER_URL": "redis://cache:6379/0"}) == "redis://cache:6379/0"
    assert rate_limit_storage({"BROKER_URL": "sqla+sqlite:///x.db"}) == "memory://"
    chosen = {"BROKER_URL": "amqp://mq", "RATELIMIT_STORAGE_URI": "redis://r"}
    assert rate_limit_storage(chosen) == "redis://r"
