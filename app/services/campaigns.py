"""Campaigns: composing variants, starting a send, and reading progress."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from app.errors import Conflict, InvalidInput, NotFound
from app.extensions import db
from app.languages import choose_variant, normalize_tag
from app.mailservers import parse_smtp_servers
from app.models import (
    OPEN_DELIVERY_STATES,
    BodyFormat,
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    Group,
    MailingList,
    Subscriber,
    Template,
    Variant,
)
from app.models.base import utcnow
from app.services import ledger, templates
from app.services.composing import LISTS_SLOT, compile_source, sample_context
from app.services.subscribers import is_country_code, normalize_email
from app.services.tokens import HashKeyMismatch
from app.zones import zone_named
from emails.errors import RenderError
from emails.mime import display_address, sender_control_characters, split_address
from emails.rendering import CONTEXT_NAMES, VariantSource
from emails.sandbox import where_written

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


def get(campaign_id: int) -> Campaign:
    """Return the campaign or raise ``NotFound``."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


def create_campaign(name: str, **settings: Any) -> Campaign:
    """Create a draft campaign addressed to lists (narrowed by filters); the settings and
    their checks are those of ``_settings``."""
    campaign = Campaign(**_settings(name, **settings))
    db.session.add(campaign)
    db.session.commit()
    return campaign


def update_campaign(campaign_id: int, name: str, **settings: Any) -> Campaign:
    """Change a draft's (or scheduled campaign's) settings: the same ones, and the same
    checks, as ``create_campaign``."""
    campaign = editable(campaign_id)
    for key, value in _settings(name, **settings).items():
        setattr(campaign, key, value)
    db.session.commit()
    return campaign


def editable(campaign_id: int) -> Campaign:
    """Return the campaign if it is a draft or scheduled, else raise ``Conflict``."""
    campaign = get(campaign_id)
    if campaign.status not in EDITABLE:
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status.value}; it can no longer change"
        )
    return campaign


def _settings(
    name: str,
    *,
    lists: list[MailingList],
    default_language: str = "en",
    from_address: str = "",
    template: Template | None = None,
    fallbacks: list[str] | None = None,
    smtp_server: str | None = None,
    filters: dict[str, list[Any]] | None = None,
    archive: bool = False,
) -> dict[str, Any]:
    """Check a campaign's settings and return them cleaned, as model attributes."""
    if not name.strip():
        raise InvalidInput("a campaign needs a name", "name")
    if not lists:
        raise InvalidInput("choose at least one list to send to", "lists")
    sender = check_sender(from_address, "From") if from_address.strip() else ""
    if template is not None:
        templates.check_usable(template)
    servers = [server.name for server in parse_smtp_servers(current_app.config["SMTP_URL"])]
    if smtp_server and smtp_server.strip() not in servers:
        raise InvalidInput(
            f"no SMTP server is named {smtp_server.strip()!r}; configured: {', '.join(servers)}",
            "smtp_server",
        )
    return {
        "name": name.strip(),
        "lists": lists,
        "default_language": normalize_tag(default_language),
        "from_address": sender,
        "template": template,
        "fallbacks": [normalize_tag(tag) for tag in fallbacks or []],
        "smtp_server": (smtp_server or "").strip() or None,
        "filters": clean_filters(filters or {}),
        "archive": archive,
    }


def check_sender(value: str, label: str) -> str:
    """Return a sender (``Name <a@b.org>``) as it is stored and shown, or refuse it.

    A name holding CR, LF, NUL or another control character (also inside an encoded-word)
    is refused, never rewritten into a different sender.
    """
    display_name, address = split_address(value)
    if bad := sender_control_characters(value):
        raise InvalidInput(
            f"{label}: a sender may not hold control characters such as line breaks "
            f"or NUL (found {', '.join(bad)})",
            "from_address",
        )
    if not address or "@" not in address:
        raise InvalidInput(
            f"{label}: {value!r} is not a sender such as 'Name <a@b.org>'", "from_address"
        )
    try:
        address = normalize_email(address)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc}", "from_address") from None
    return display_address(display_name, address)


FILTER_KEYS = ("languages", "countries", "groups")


def clean_filters(filters: dict[str, Any]) -> dict[str, list[Any]]:
    """Validate audience filters: language tags, ISO country codes, existing group ids."""
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown filter {', '.join(sorted(unknown))}; filters are {', '.join(FILTER_KEYS)}",
            "filters",
        )
    cleaned: dict[str, list[Any]] = {}
    if languages := filters.get("languages"):
        cleaned["languages"] = sorted({normalize_tag(str(tag)) for tag in languages})
    if countries := filters.get("countries"):
        codes = sorted({str(code).strip().upper() for code in countries})
        bad = [code for code in codes if not is_country_code(code)]
        if bad:
            raise InvalidInput(
                f"{', '.join(bad)}: countries are two-letter codes such as UA or AR", "countries"
            )
        cleaned["countries"] = codes
    if groups := filters.get("groups"):
        try:
            ids = sorted({int(group) for group in groups})
        except (TypeError, ValueError):
            raise InvalidInput(f"groups are given by id, not {groups!r}", "groups") from None
        found = set(db.session.scalars(select(Group.id).where(Group.id.in_(ids))))
        if missing := [str(group) for group in ids if group not in found]:
            raise InvalidInput(f"no group with id {', '.join(missing)}", "groups")
        cleaned["groups"] = ids
    return cleaned


def save_variant(
    campaign_id: int,
    language: str,
    *,
    subject: str,
    body: str,
    preheader: str = "",
    body_format: str = "markdown",
    ready: bool = True,
    footer: tuple[str, str, str] = ("", "", ""),
) -> Variant:
    """Create or replace the campaign's variant in one language; refuse broken templates.

    ``footer``: the organiser's footer words (reason, unsubscribe, preferences), all three
    or none, for a language without a catalogue; ``%(lists)s`` in the reason is the lists.
    """
    campaign = editable(campaign_id)
    language = normalize_tag(language)
    if not subject.strip():
        raise InvalidInput("a variant needs a subject", "subject")
    footer = _footer_words(footer)
    try:
        fmt = BodyFormat(body_format)
    except ValueError:
        raise InvalidInput(
            f"body format must be markdown or html, not {body_format!r}", "body_format"
        ) from None
    source = VariantSource(language, subject, preheader, body, fmt.value)
    sample = sample_context(language)
    try:
        # Compile and render once now, so a broken template is refused at save time.
        rendered = compile_source(campaign, source).render(sample)
    except RenderError as exc:
        parts = {"subject": subject, "body": body}
        raise InvalidInput(str(where_written(exc, parts, sample, CONTEXT_NAMES)), "body") from None
    templates.check_unsubscribe_link(campaign.template, rendered.html, sample)
    variant = next((v for v in campaign.variants if v.language == language), None)
    if variant is None:
        variant = Variant(language=language)
        campaign.variants.append(variant)
    variant.subject, variant.preheader, variant.body = subject.strip(), preheader.strip(), body
    variant.body_format, variant.ready = fmt, ready
    variant.footer_reason, variant.unsubscribe_label, variant.preferences_label = footer
    db.session.commit()
    return variant


def _footer_words(words: tuple[str, str, str]) -> tuple[str, str, str]:
    """Check the organiser's footer words: all three or none, each on one line."""
    reason, unsubscribe, preferences = (" ".join(w.split()) for w in words)
    if any((reason, unsubscribe, preferences)) and not all((reason, unsubscribe, preferences)):
        raise InvalidInput(
            "footer words: write all three (the reason, Unsubscribe and Preferences) or none",
            "footer_reason",
        )
    if any(len(w) > 500 for w in (reason, unsubscribe, preferences)):
        raise InvalidInput("footer words: each is at most 500 characters", "footer_reason")
    if reason and reason.replace(LISTS_SLOT, "").count("%"):
        raise InvalidInput(
            f"footer words: the reason may hold {LISTS_SLOT} (the list names) and no other %",
            "footer_reason",
        )
    return reason, unsubscribe, preferences


@dataclass(frozen=True)
class LanguageRow:
    """How the recipients who speak one language are served."""

    language: str
    recipients: int
    gets: str | None  # the ready variant they receive now; None: nothing fits
    intended: str | None  # the variant they would get if every variant were ready

    @property
    def falls_back(self) -> bool:
        return self.gets is not None and self.gets != self.language

    @property
    def waits_for_variant(self) -> bool:
        """Their own variant exists but is not ready: hold them, or send the fallback."""
        return self.intended is not None and self.intended != self.gets


class NotReadyChoice(enum.StrEnum):
    HOLD = "hold"  # recipients whose variant is not ready are skipped, marked held
    FALLBACK = "fallback"  # they get the variant the fallback chain gives among ready ones


def language_plan(campaign: Campaign) -> list[LanguageRow]:
    """For each recipient language: how many, which variant they get, and which they await.

    One grouped query over the audience, so it stays cheap for large lists.
    """
    counted = db.session.execute(
        select(Subscriber.language, func.count())
        .where(ledger.audience_of(campaign))
        .group_by(Subscriber.language)
        .order_by(func.count().desc(), Subscriber.language)
    ).all()
    ready = [v.language for v in campaign.variants if v.ready]
    written = [v.language for v in campaign.variants]
    chain, default = campaign.fallbacks or [], campaign.default_language
    return [
        LanguageRow(
            language,
            number,
            choose_variant(language, ready, chain, default),
            choose_variant(language, written, chain, default),
        )
        for language, number in counted
    ]


def check_sendable(
    campaign: Campaign, not_ready: NotReadyChoice | str | None
) -> tuple[list[LanguageRow], list[str]]:
    """Refuse a send that would surprise; return the plan and the languages to hold."""
    choice = _choice(not_ready)
    if not any(v.ready for v in campaign.variants):
        raise InvalidInput("the campaign has no ready variant to send")
    if not any(v.ready and v.language == campaign.default_language for v in campaign.variants):
        raise InvalidInput(f"the default language {campaign.default_language} has no ready variant")
    _check_links(campaign)
    plan = language_plan(campaign)
    waiting = [row for row in plan if row.waits_for_variant]
    if waiting and choice is None:
        described = ", ".join(f"{row.recipients} in {row.language}" for row in waiting)
        raise InvalidInput(
            f"some recipients' variant is not ready ({described}): choose to hold them "
            "or to send them the fallback",
            "not_ready",
        )
    held = [row.language for row in waiting] if choice is NotReadyChoice.HOLD else []
    return plan, held


def _check_links(campaign: Campaign) -> None:
    """Refuse to start when a ready variant would go out without the unsubscribe link
    (a layout or variant saved before that rule)."""
    if campaign.template is not None:
        templates.check_usable(campaign.template)  # once, not with every variant
    for variant in (v for v in campaign.variants if v.ready):
        source = VariantSource(
            variant.language,
            variant.subject,
            variant.preheader,
            variant.body,
            variant.body_format.value,
        )
        sample = sample_context(variant.language)
        try:
            rendered = compile_source(campaign, source).render(sample)
            templates.check_unsubscribe_link(None, rendered.html, sample)
        except (RenderError, InvalidInput) as exc:
            raise InvalidInput(f"the {variant.language} variant cannot go out: {exc}") from None


def start_sending(campaign_id: int, not_ready: NotReadyChoice | str | None = None) -> int:
    """Move a draft to ``sending`` and write its ledger in one statement; return the count.

    Pressing send twice is harmless: only the first call finds the campaign in draft.
    ``not_ready`` says what happens to recipients whose own variant is not ready.
    """
    campaign = get(campaign_id)
    _plan, held = check_sendable(campaign, not_ready)
    _transition(
        campaign_id, EDITABLE, CampaignStatus.SENDING, started_at=utcnow(), status_reason=""
    )
    count = ledger.insert_deliveries(campaign, held_languages=held)
    db.session.commit()
    return count


def schedule(
    campaign_id: int,
    local_time: datetime,
    timezone: str,
    not_ready: NotReadyChoice | str | None = None,
    now: datetime | None = None,
) -> datetime:
    """Schedule a draft to start at a wall-clock time in an IANA zone; return it in UTC.

    The time is read as ``start_time`` reads it.
    """
    when = start_time(local_time, timezone, now)
    campaign = get(campaign_id)
    choice = _choice(not_ready)
    check_sendable(campaign, choice)
    _transition(
        campaign_id,
        EDITABLE,
        CampaignStatus.SCHEDULED,
        scheduled_at=when,
        schedule_timezone=zone_named(timezone).key,
        not_ready=choice.value if choice else None,
        status_reason="",
    )
    db.session.commit()
    return when


def start_time(local_time: datetime, timezone: str, now: datetime | None = None) -> datetime:
    """Return a future wall-clock time in an IANA zone in UTC, or refuse it.

    The local time is converted with the zone's rules for that date, so 09:00 in Kyiv stays
    09:00 across a daylight-saving change. A time that the clocks skip is refused; in the
    repeated hour of an autumn change, the first occurrence is meant.
    """
    zone = zone_named(timezone)
    if local_time.tzinfo is not None:
        local_time = local_time.astimezone(zone).replace(tzinfo=None)
    aware = local_time.replace(tzinfo=zone)
    when = aware.astimezone(UTC)
    if when.astimezone(zone).replace(tzinfo=None) != local_time:
        raise InvalidInput(
            f"{local_time:%Y-%m-%d %H:%M} does not exist in {timezone}: the clocks skip it",
            "scheduled_at",
        )
    if when <= (now or utcnow()):
        raise InvalidInput("the scheduled time has already passed", "scheduled_at")
    return when


def unschedule(campaign_id: int) -> None:
    """Take a scheduled campaign back to draft; it keeps everything else."""
    _transition(campaign_id, (CampaignStatus.SCHEDULED,), CampaignStatus.DRAFT, scheduled_at=None)
    db.session.commit()


def start_due(now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (beat calls this); return their ids.

    A campaign that can no longer start (say its only ready variant was unmarked) goes back
    to draft with the reason shown, instead of failing again every few seconds.
    """
    due = db.session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= (now or utcnow())
        )
    ).all()
    started = []
    for campaign_id in due:
        campaign = get(campaign_id)
        try:
            start_sending(campaign_id, campaign.not_ready)
        except Conflict:
            continue  # unscheduled or started meanwhile
        except HashKeyMismatch:
            db.session.rollback()
            break  # they stay scheduled until the hash key is set right (logged)
        except InvalidInput as exc:
            db.session.rollback()
            _transition(
                campaign_id,
                (CampaignStatus.SCHEDULED,),
                CampaignStatus.DRAFT,
                status_reason=f"could not start on schedule: {exc}",
            )
            db.session.commit()
        else:
            started.append(campaign_id)
    return started


def _choice(value: NotReadyChoice | str | None) -> NotReadyChoice | None:
    if value is None or value == "":
        return None
    try:
        return NotReadyChoice(value)
    except ValueError:
        raise InvalidInput(
            f"for recipients whose variant is not ready, choose hold or fallback, not {value!r}",
            "not_ready",
        ) from None


def counts(campaign_id: int) -> dict[str, int]:
    """Return the number of ledger rows in each delivery status (zeros included)."""
    result = {status.value: 0 for status in DeliveryStatus}
    rows = db.session.execute(
        select(ledger.Delivery.status, func.count())
        .where(ledger.Delivery.campaign_id == campaign_id)
        .group_by(ledger.Delivery.status)
    )
    for status, number in rows:
        result[status.value] = number
    return result


def progress(campaign_id: int) -> dict[str, Any]:
    """Return status, counts, remaining, current rate (messages a second) and ETA (seconds)."""
    campaign = get(campaign_id)
    by_status = counts(campaign_id)
    remaining = sum(by_status[s.value] for s in OPEN_DELIVERY_STATES)
    rate = None
    if campaign.status == CampaignStatus.SENDING and len(campaign.progress_samples or []) == 2:
        (t0, sent0), (t1, sent1) = campaign.progress_samples
        rate = round((sent1 - sent0) / (t1 - t0), 1) if t1 > t0 else None
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        "reason": campaign.status_reason,
        "total": sum(by_status.values()),
        "counts": by_status,
        "remaining": remaining,
        "rate_per_second": rate,
        "eta_seconds": round(remaining / rate) if rate else None,
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
    }


def _transition(
    campaign_id: int, allowed: tuple[CampaignStatus, ...], to: CampaignStatus, **values: Any
) -> Campaign:
    """Move the campaign to ``to`` only from ``allowed``, in one conditional UPDATE."""
    campaign = get(campaign_id)
    moved = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(status=to, **values)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(
            f"campaign {campaign_id} is {campaign.status.value}; it cannot become {to.value}"
        )
    return campaign


def pause(campaign_id: int, reason: str = "") -> None:
    """Stop handing out and sending rows; workers give back what they hold before the next."""
    _transition(campaign_id, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, status_reason=reason)
    db.session.commit()


def resume(campaign_id: int) -> None:
    """Carry on sending a paused campaign from where the ledger says it stopped."""
    _transition(campaign_id, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, status_reason="")
    db.session.commit()


def cancel(campaign_id: int) -> None:
    """Stop for good: rows not yet sent become ``skipped``; rows in flight finish first."""
    # Ledger rows before the campaign row, the order the dispatcher locks them in.
    db.session.execute(
        update(ledger.Delivery)
        .where(
            ledger.Delivery.campaign_id == campaign_id,
            ledger.Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.FAILED_TEMP)),
        )
        .values(status=DeliveryStatus.SKIPPED, smtp_reply="campaign cancelled")
    )
    _transition(  # rolls the rows back too when the campaign cannot be cancelled
        campaign_id,
        (*EDITABLE, CampaignStatus.SENDING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
        finished_at=utcnow(),
    )
    db.session.commit()


RESENDABLE = (DeliveryStatus.FAILED_PERM, DeliveryStatus.UNKNOWN)


def resend(campaign_id: int, statuses: tuple[DeliveryStatus, ...] = RESENDABLE) -> int:
    """Send a finished campaign again to rows that failed or whose fate is unknown."""
    if not set(statuses) <= set(RESENDABLE):
        raise InvalidInput("only failed and unknown deliveries can be sent again")
    # Ledger rows before the campaign row, the order the dispatcher locks them in.
    count = db.session.execute(
        update(ledger.Delivery)
        .where(ledger.Delivery.campaign_id == campaign_id, ledger.Delivery.status.in_(statuses))
        .values(
            status=DeliveryStatus.QUEUED,
            enqueued_at=None,
            next_attempt_at=None,
            first_attempt_at=None,
            smtp_reply="",
        )
    ).rowcount
    _transition(campaign_id, (CampaignStatus.SENT,), CampaignStatus.SENDING, finished_at=None)
    db.session.commit()
    return count


def all_campaigns() -> list[Campaign]:
    """Return every campaign, newest first."""
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc())))
