"""Report-back: a group tells organisers what it did for a campaign, through the personal
link in the message (no login). Organisers approve or reject what arrives."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.errors import Malformed, NotFound, Required, TooLong, TooMany, member_of
from app.extensions import db
from app.languages import choose_variant
from app.models import Campaign, Report, ReportStatus, Subscriber
from app.readers import archive
from app.tokens import InvalidToken, tokens
from emails.mime import clean_header_value

MAX_LINKS = 10
MAX_TEXT = 5000
MAX_REPORTS_PER_LINK = 20


def resolve(token: str) -> tuple[Subscriber, Campaign]:
    """Return who reports on which campaign; raise ``InvalidToken`` when the link means nothing."""
    subscriber_uid, campaign_uid = tokens().read_report(token)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.uid == subscriber_uid))
    campaign = db.session.scalar(select(Campaign).where(Campaign.uid == campaign_uid))
    if subscriber is None or campaign is None:
        raise InvalidToken()
    return subscriber, campaign


def subject_for(subscriber: Subscriber, campaign: Campaign) -> str:
    """The subject the reader got: their language's variant by the send's fallback chain.

    Rendered for nobody (as the archive shows it); never the campaign's internal name, which
    is the organisers' own. Empty when no variant is ready.
    """
    ready = [v.language for v in campaign.variants if v.ready]
    chosen = choose_variant(
        subscriber.language, ready, campaign.fallbacks, campaign.default_language
    )
    if chosen is None:
        return ""
    return archive.subject(campaign, chosen)


def submit(token: str, *, title: str, event_date: str, place: str, links: str, text: str) -> Report:
    """Check and keep one report; every problem is named, and nothing is kept half-way."""
    subscriber, campaign = resolve(token)
    title = clean_header_value(title)
    if not title:
        raise Required("title", message=_("Give your action a title."))
    if len(title) > 200:
        raise TooLong(
            "title", "the title", 200, message=_("The title is longer than 200 characters.")
        )
    place = clean_header_value(place)
    if len(place) > 200:
        raise TooLong(
            "place", "the place", 200, message=_("The place is longer than 200 characters.")
        )
    if len(text) > MAX_TEXT:
        raise TooLong(
            "text",
            "the text",
            MAX_TEXT,
            message=_("The text is longer than %(n)s characters.", n=MAX_TEXT),
        )
    sent_before = db.session.execute(
        select(func.count())
        .select_from(Report)
        .where(Report.campaign_id == campaign.id, Report.subscriber_id == subscriber.id)
    ).scalar_one()
    if sent_before >= MAX_REPORTS_PER_LINK:
        raise TooMany(
            "title",
            "reports",
            MAX_REPORTS_PER_LINK,
            message=_("This link has sent as many reports as it can."),
        )
    report = Report(
        campaign_id=campaign.id,
        subscriber_id=subscriber.id,
        group_id=subscriber.group_id,
        language=subscriber.language,
        title=title,
        event_date=_date(event_date),
        place=place,
        links=_links(links),
        text=text.strip(),
    )
    db.session.add(report)
    db.session.commit()
    return report


def _date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Malformed(
            "event_date",
            value,
            "a date such as 2027-03-01",
            message=_("%(value)s is not a date such as 2027-03-01.", value=value),
        ) from None


def _links(value: str) -> list[str]:
    links = [line.strip() for line in value.splitlines() if line.strip()]
    if len(links) > MAX_LINKS:
        raise TooMany(
            "links",
            "links",
            MAX_LINKS,
            message=_("At most %(n)s links, one per line.", n=MAX_LINKS),
        )
    for link in links:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 500:
            raise Malformed(
                "links",
                link[:80],
                "a web address (https://…)",
                message=_("%(link)s is not a web address (https://…).", link=link[:80]),
            )
    return links


def for_campaign(campaign_id: int) -> list[Report]:
    """A campaign's reports, newest first."""
    return list(
        db.session.scalars(
            select(Report).where(Report.campaign_id == campaign_id).order_by(Report.id.desc())
        )
    )


def moderate(report_id: int, status: str) -> Report:
    """Approve or reject a report (or put it back to pending)."""
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report with id {report_id}")
    report.status = member_of(
        ReportStatus,
        status,
        "status",
        message=f"a report is pending, approved or rejected, not {status!r}",
    )
    db.session.commit()
    return report
