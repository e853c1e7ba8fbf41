"""The operator CLI: the same services as the panel, one-line errors, JSON where asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from app.campaigns import lifecycle, results
from app.extensions import db
from app.models import Campaign, Subscriber, User, UserRole
from tests.support.factories import make_campaign, make_list, make_subscribers


@pytest.fixture()
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def tocsin(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=input,
        text=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=60,
    )


def test_users_create_reads_the_password_from_stdin(cli):
    result = cli(
        "users",
        "create",
        "Owner@Example.org",
        "--role",
        "owner",
        "--password-stdin",
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert (user.email, user.role) == ("owner@example.org", UserRole.OWNER)
    assert user.password_hash.startswith("$argon2id$")


def test_short_password_is_refused_in_one_line(cli):
    result = cli("users", "create", "a@example.org", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert result.output == "Error: password: the password must have at least 10 characters\n"
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_refusal_names_the_field_it_is_about(cli):
    result = cli("lists", "create", "Bad Slug", "--name", "X")
    assert result.exit_code == 1
    assert result.output == (
        "Error: slug: 'Bad Slug' is not a slug: use lowercase letters, digits and dashes\n"
    )


def test_list_subscriber_and_show_as_json(cli):
    assert cli("lists", "create", "partners", "--name", "Partner collectives").exit_code == 0
    result = cli(
        "subscribers",
        "add",
        "Olena@Example.org",
        "--list",
        "partners",
        "--language",
        "uk",
        "--name",
        "Олена",
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(cli("subscribers", "show", "olena@example.org", "--json").output)
    assert shown["email"] == "olena@example.org" and shown["language"] == "uk"
    assert shown["name"] == "Олена"
    assert shown["subscriptions"] == [{"list": "partners", "status": "confirmed"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lists", "create", "Bad Slug", "--name", "X"), "is not a slug"),
        (
            ("subscribers", "add", "not-an-address", "--list", "partners", "--language", "en"),
            "is not a valid address",
        ),
        (
            ("subscribers", "add", "a@example.org", "--list", "missing", "--language", "en"),
            "no list with slug 'missing'",
        ),
        (
            ("subscribers", "add", "a@example.org", "--list", "partners", "--language", "english!"),
            "is not a language tag",
        ),
        (("subscribers", "show", "nobody@example.org"), "no subscriber"),
        (("campaigns", "send", "999"), "no campaign with id 999"),
        (("campaigns", "status", "999"), "no campaign with id 999"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_one_line_reason(cli, args, message):
    cli("lists", "create", "partners", "--name", "Partners")
    result = cli(*args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and message in result.output
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_usage_errors_from_the_console_script_are_one_line(app):
    result = tocsin("campaigns", "send", "not-a-number")
    assert result.returncode == 2
    assert result.stderr == (
        "tocsin: Invalid value for 'CAMPAIGN_ID': 'not-a-number' is not a valid integer.\n"
    )


def test_demo_then_send_and_status_as_json(cli):
    result = cli("demo", "--subscribers", "60")
    assert result.exit_code == 0, result.output
    [demo] = json.loads(cli("campaigns", "list", "--json").output)
    assert sorted(demo["languages"]) == ["de", "en", "es", "fr", "uk"]
    assert demo["status"] == "draft"
    again = cli("demo")
    assert again.exit_code == 1 and "loaded already" in again.output

    sent = cli("campaigns", "send", str(demo["id"]), "--yes")
    assert sent.exit_code == 0 and "is sending to" in sent.output
    status = json.loads(cli("campaigns", "status", str(demo["id"]), "--json").output)
    assert status["status"] == "sending"
    assert status["total"] == status["counts"]["queued"] > 0
    assert db.session.get(Campaign, demo["id"]).started_at is not None


def test_demo_has_the_call_in_five_languages_for_partner_groups(cli):
    cli("demo")
    campaign = db.session.scalar(select(Campaign))
    assert [m.slug for m in campaign.lists] == ["partners"]
    subjects = {v.language: v.subject for v in campaign.variants}
    assert subjects["uk"].startswith("Заклик до тижня дій")
    assert "24 de febrero" in subjects["es"]
    body = {v.language: v.body for v in campaign.variants}
    assert all("solidaritycollectives.org" in text for text in body.values())
    languages = set(db.session.scalars(select(Subscriber.language)))
    assert {"en", "uk", "es", "fr", "de"} <= languages and len(languages) >= 7
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 200


def test_pause_resume_cancel_and_status_from_the_shell(cli):
    cli("demo", "--subscribers", "40")
    campaign_id = str(db.session.scalar(select(Campaign.id)))
    assert "pausing" not in cli("campaigns", "pause", campaign_id).output
    assert cli("campaigns", "pause", campaign_id).exit_code == 1  # a draft cannot pause
    cli("campaigns", "send", campaign_id, "--yes")
    assert cli("campaigns", "pause", campaign_id).output == f"campaign {campaign_id}: paused\n"
    status = json.loads(cli("campaigns", "status", campaign_id, "--json").output)
    assert status["status"] == "paused" and status["remaining"] == status["total"] > 0
    assert set(status) >= {"rate_per_second", "eta_seconds", "counts", "reason"}
    assert cli("campaigns", "resume", campaign_id).output == f"campaign {campaign_id}: sending\n"
    assert cli("campaigns", "cancel", campaign_id).output == f"campaign {campaign_id}: cancelled\n"
    status = json.loads(cli("campaigns", "status", campaign_id, "--json").output)
    assert status["counts"]["skipped"] == status["total"] and status["remaining"] == 0
    refused = cli("campaigns", "resend", campaign_id)
    assert refused.exit_code == 1 and "cannot become sending" in refused.output


def test_progress_reports_rate_and_eta_from_the_dispatcher_samples(app):
    partners = make_list()
    make_subscribers(1000, lists=[partners])
    campaign = make_campaign({"en": "Rates"}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    campaign.progress_samples = [[1000.0, 100], [1010.0, 600]]
    db.session.commit()
    progress = results.progress(campaign.id)
    assert (progress["remaining"], progress["rate_per_second"]) == (1000, 50.0)
    assert progress["eta_seconds"] == 20
