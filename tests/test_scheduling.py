"""Scheduling: a wall-clock time in a chosen zone, kept across daylight-saving changes,
started by beat on time, and undone on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.campaigns import drafts, lifecycle
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import CampaignStatus, Delivery
from app.models.base import utcnow
from tests.support.factories import make_campaign, make_list, make_subscriber

WINTER = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # before the clocks go forward anywhere


def draft():
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    return make_campaign({"en": "Hello"}, lists=[partners])


@pytest.mark.parametrize(
    ("local", "zone", "utc"),
    [
        # Kyiv is UTC+2 when this is scheduled and UTC+3 on the day: 09:00 local is 06:00 UTC.
        (datetime(2027, 3, 28, 9, 0), "Europe/Kyiv", datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),
        # The day before the change it is still UTC+2.
        (datetime(2027, 3, 27, 9, 0), "Europe/Kyiv", datetime(2027, 3, 27, 7, 0, tzinfo=UTC)),
        # New York goes forward two weeks earlier than Europe.
        (datetime(2027, 3, 15, 9, 0), "America/New_York", datetime(2027, 3, 15, 13, 0, tzinfo=UTC)),
        # Buenos Aires has no daylight saving.
        (
            datetime(2027, 3, 28, 9, 0),
            "America/Argentina/Buenos_Aires",
            datetime(2027, 3, 28, 12, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_schedule_keeps_the_local_time_across_daylight_saving(app, local, zone, utc):
    campaign = draft()
    assert lifecycle.schedule(campaign.id, local, zone, now=WINTER) == utc
    stored = db.session.get(type(campaign), campaign.id)
    assert stored.status == CampaignStatus.SCHEDULED and stored.schedule_timezone == zone


def test_beat_starts_it_at_the_intended_local_time_not_an_hour_off(app):
    campaign = draft()
    lifecycle.schedule(campaign.id, datetime(2027, 3, 28, 9, 0), "Europe/Kyiv", now=WINTER)
    on_time = datetime(2027, 3, 28, 6, 0, tzinfo=UTC)
    assert lifecycle.start_due(now=on_time - timedelta(seconds=1)) == []
    assert lifecycle.start_due(now=on_time) == [campaign.id]
    assert db.session.get(type(campaign), campaign.id).status == CampaignStatus.SENDING
    assert len(db.session.scalars(select(Delivery)).all()) == 1
    assert lifecycle.start_due(now=on_time + timedelta(hours=1)) == []  # started once


def test_times_the_clocks_skip_and_bad_zones_are_refused(app):
    campaign = draft()
    with pytest.raises(InvalidInput, match="does not exist in Europe/Kyiv"):
        lifecycle.schedule(campaign.id, datetime(2027, 3, 28, 3, 30), "Europe/Kyiv", now=WINTER)
    with pytest.raises(InvalidInput, match="not a time zone"):
        lifecycle.schedule(campaign.id, datetime(2027, 3, 28, 9), "Europe/Atlantis", now=WINTER)
    with pytest.raises(InvalidInput, match="already passed"):
        lifecycle.schedule(campaign.id, datetime(2027, 2, 1, 9), "UTC", now=WINTER)
    assert db.session.get(type(campaign), campaign.id).status == CampaignStatus.DRAFT


def test_the_repeated_autumn_hour_means_its_first_occurrence(app):
    campaign = draft()
    when = lifecycle.schedule(campaign.id, datetime(2027, 10, 31, 3, 30), "Europe/Kyiv", now=WINTER)
    assert when == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # still UTC+3 then


def test_unschedule_goes_back_to_draft_and_nothing_starts(app):
    campaign = draft()
    soon = (utcnow() + timedelta(hours=1)).replace(tzinfo=None)
    lifecycle.schedule(campaign.id, soon, "UTC")
    lifecycle.unschedule(campaign.id)
    assert db.session.get(type(campaign), campaign.id).status == CampaignStatus.DRAFT
    assert lifecycle.start_due(now=utcnow() + timedelta(days=1)) == []
    with pytest.raises(Conflict):
        lifecycle.unschedule(campaign.id)


def test_a_scheduled_start_that_became_impossible_returns_to_draft_with_the_reason(app):
    partners = make_list()
    make_subscriber("olena@example.org", language="uk", lists=[partners])
    campaign = make_campaign({"en": "Hello", "uk": "Привіт"}, lists=[partners])
    lifecycle.schedule(campaign.id, datetime(2027, 3, 28, 9), "Europe/Kyiv", now=WINTER)
    drafts.save_variant(campaign.id, "uk", subject="Привіт", body="Ще ні", ready=False)
    assert lifecycle.start_due(now=datetime(2027, 3, 28, 6, tzinfo=UTC)) == []
    stored = db.session.get(type(campaign), campaign.id)
    assert stored.status == CampaignStatus.DRAFT
    assert (
        "could not start on schedule" in stored.status_reason and "1 in uk" in stored.status_reason
    )


@pytest.mark.slow
def test_beat_starts_a_campaign_scheduled_a_moment_ahead(app, run_worker, smtp):
    campaign = draft()
    lifecycle.schedule(campaign.id, (utcnow() + timedelta(seconds=2)).replace(tzinfo=None), "UTC")
    run_worker.until_sent(campaign.id)
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["ann@example.org"]
