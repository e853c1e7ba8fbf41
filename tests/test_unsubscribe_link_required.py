"""No campaign message goes out without a link to the reader's unsubscribe page: layouts and
variant bodies are refused without one (panel, campaign files, CLI), and a campaign whose
layout was stored before the rule cannot start. System emails need no such link."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.accounts import users
from app.campaigns import campaign_files, drafts, lifecycle
from app.errors import InvalidInput
from app.extensions import db
from app.messages import layouts, system_emails
from app.messages.composing import DEFAULT_LAYOUT
from app.models import (
    BodyFormat,
    Campaign,
    CampaignStatus,
    Delivery,
    Template,
    Variant,
)
from app.models.base import utcnow
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.panel import flashed, text

LINK = '<a href="{{ unsubscribe_url }}">{{ unsubscribe_label }}</a>'
MUST_LINK = "a layout must link to the reader's unsubscribe page"
WITHOUT_LINK = "this message would go out without a link to the reader's unsubscribe page"


def layout(footer: str) -> str:
    return f"<html><body>{{{{ content }}}}<footer>{footer}</footer></body></html>"


def stored_layout(name: str = "Old") -> Template:
    """A layout without the link, as it may have been saved before the rule."""
    found = Template(name=name, html=layout("<p>Thanks for reading.</p>"))
    db.session.add(found)
    db.session.commit()
    return found


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    "footer",
    [
        "<p>Thanks for reading.</p>",
        "<p>Unsubscribe: {{ unsubscribe_url }}</p>",  # text, not a link
        '<a href="{{ preferences_url }}">{{ preferences_label }}</a>',
        f"{{% if false %}}{LINK}{{% endif %}}",
        f"{{% if language == 'xx' %}}{LINK}{{% endif %}}",
        f"<!-- {LINK} -->",
        '<img src="{{ unsubscribe_url }}" alt="">',
        '<a title="{{ unsubscribe_url }}" href="https://example.org/">x</a>',
        '<a href="{{ unsubscribe_url }}x">typo</a>',
    ],
    ids=[
        "no link",
        "as text",
        "preferences only",
        "under a false if",
        "under an if false for the sample",
        "in a comment",
        "in an image",
        "in a title",
        "another URL",
    ],
)
def test_a_layout_without_an_unsubscribe_link_is_refused(app, footer):
    with pytest.raises(InvalidInput, match=MUST_LINK) as refused:
        layouts.save_template("No way out", layout(footer))
    assert '<a href="{{ unsubscribe_url }}">' in str(refused.value)  # says what to write
    assert count(Template) == 0


@pytest.mark.parametrize(
    "footer",
    [
        LINK,
        f"{{% if unsubscribe_url %}}{LINK}{{% endif %}}",
        "<a class=out href='{{ unsubscribe_url }}'>Leave</a>",
    ],
)
def test_a_layout_with_the_link_is_saved(app, footer):
    assert layouts.save_template("Fine", layout(footer)).html == layout(footer)
    assert layouts.save_template("Built-in copy", DEFAULT_LAYOUT).id


def test_the_layout_editor_shows_the_error_and_keeps_what_was_typed(client):
    typed = layout("<p>Thanks for reading, friends.</p>")
    refused = client.post("/templates/new", data={"name": "No way out", "html": typed})
    assert refused.status_code == 200
    assert any(MUST_LINK in html.unescape(m) for m in flashed(refused))
    assert html.escape(typed, quote=False) in text(refused)  # the textarea holds it
    assert 'value="No way out"' in text(refused)
    assert count(Template) == 0

    saved = layouts.save_template("Fine", layout(LINK))
    changed = client.post(f"/templates/{saved.id}", data={"name": "Fine", "html": typed})
    assert any(MUST_LINK in html.unescape(m) for m in flashed(changed))
    db.session.expire_all()
    assert db.session.get(Template, saved.id).html == layout(LINK)


OVERRIDE = '{% set unsubscribe_url = "https://example.org/" %}<p>Hello</p>'


@pytest.mark.parametrize("with_layout", [False, True], ids=["built-in layout", "own layout"])
def test_an_html_body_that_replaces_the_link_is_refused(app, with_layout):
    own = layouts.save_template("Fine", layout(LINK)) if with_layout else None
    campaign = make_campaign({}, template=own)
    with pytest.raises(InvalidInput, match=WITHOUT_LINK):
        drafts.save_variant(campaign.id, "en", subject="Hi", body=OVERRIDE, body_format="html")
    with pytest.raises(InvalidInput, match=WITHOUT_LINK):
        drafts.save_variant(campaign.id, "en", subject="Hi", body=OVERRIDE)  # Markdown too
    assert count(Variant) == 0
    fine = drafts.save_variant(
        campaign.id, "en", subject="Hi", body="<p>Hello</p>", body_format="html"
    )
    assert fine.body_format == BodyFormat.HTML


def test_the_variant_editor_shows_the_error_and_keeps_what_was_typed(client):
    campaign = make_campaign({})
    form = {"language": "en", "subject": "Hi", "body": OVERRIDE, "body_format": "html"}
    refused = client.post(f"/campaigns/{campaign.id}/variant?language=en", data=form)
    assert refused.status_code == 200
    assert any(WITHOUT_LINK in html.unescape(m) for m in flashed(refused))
    assert OVERRIDE in html.unescape(text(refused))  # the body field holds it
    assert count(Variant) == 0


def campaign_file(template: str | None, body: str, body_format: str = "html") -> str:
    named = f'template = "{template}"\n' if template else ""
    return (
        f'name = "Call"\nlists = ["partners"]\n{named}'
        f'[[variants]]\nlanguage = "en"\nsubject = "Hi"\nbody_format = "{body_format}"\n'
        f"body = '''{body}'''\n"
    )


def test_a_campaign_file_that_would_go_out_without_the_link_creates_nothing(app, tmp_path):
    make_list("partners", "Partners")
    with pytest.raises(InvalidInput, match=WITHOUT_LINK):
        campaign_files.import_text(campaign_file(None, OVERRIDE), "toml")
    stored_layout("Old")
    with pytest.raises(InvalidInput, match=f"the layout 'Old' cannot be used: {MUST_LINK}"):
        campaign_files.import_text(campaign_file("Old", "<p>Hello</p>"), "toml")
    assert count(Campaign) == 0 and count(Variant) == 0

    path = tmp_path / "call.toml"
    path.write_text(campaign_file(None, OVERRIDE), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["campaigns", "import", str(path)])
    assert result.exit_code == 1 and WITHOUT_LINK in result.output
    assert count(Campaign) == 0


def campaign_with_an_old_layout() -> Campaign:
    """A draft whose layout and variant were stored before the rule, bypassing the checks."""
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    campaign.template = stored_layout()
    db.session.commit()
    return campaign


def test_a_campaign_whose_layout_lacks_the_link_cannot_start(app):
    campaign = campaign_with_an_old_layout()
    with pytest.raises(InvalidInput) as refused:
        lifecycle.start_sending(campaign.id)
    assert str(refused.value).startswith(f"the layout 'Old' cannot be used: {MUST_LINK}")
    assert "change it under Layouts or choose another layout" in str(refused.value)
    with pytest.raises(InvalidInput, match=MUST_LINK):
        lifecycle.schedule(campaign.id, datetime(2099, 6, 1, 9), "UTC")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert count(Delivery) == 0


def test_a_variant_stored_before_the_rule_cannot_start_either(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    campaign = make_campaign({}, lists=[partners])
    campaign.variants.append(Variant(language="en", subject="Hi", body=OVERRIDE, ready=True))
    db.session.commit()
    with pytest.raises(InvalidInput, match=f"the en variant cannot go out: {WITHOUT_LINK}"):
        lifecycle.start_sending(campaign.id)
    assert count(Delivery) == 0


def test_send_now_in_the_panel_says_why_it_cannot_start(client):
    campaign = campaign_with_an_old_layout()
    refused = client.post(f"/campaigns/{campaign.id}/send", follow_redirects=True)
    assert any(
        "the layout 'Old' cannot be used" in html.unescape(m) and MUST_LINK in html.unescape(m)
        for m in flashed(refused)
    )
    assert "send/confirm" not in text(refused)
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT


def test_a_scheduled_campaign_whose_layout_lacks_the_link_returns_to_draft(app):
    campaign = campaign_with_an_old_layout()
    campaign.status = CampaignStatus.SCHEDULED
    campaign.scheduled_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert lifecycle.start_due() == []
    stored = db.session.get(Campaign, campaign.id)
    assert stored.status == CampaignStatus.DRAFT
    assert "could not start on schedule" in stored.status_reason
    assert MUST_LINK in stored.status_reason
    assert count(Delivery) == 0


def test_system_emails_need_no_unsubscribe_link(app):
    for kind in system_emails.Kind:
        saved = system_emails.save(kind, "en", "Hello", "Plain words, no links at all.")
        assert saved.body == "Plain words, no links at all."
        subject, shown = system_emails.preview(kind, "en", app.config)
        assert subject == "Hello" and "/u/" not in shown


@pytest.mark.slow
def test_the_layout_editor_in_a_browser_keeps_what_was_typed(app, page):
    from playwright.sync_api import expect

    from tests.support.browser import EMAIL, PASSWORD, log_in

    users.create_user(EMAIL, PASSWORD, "owner")
    log_in(page)
    page.goto("/templates/new")
    typed = layout(f"{{% if false %}}{LINK}{{% endif %}}<p>Thanks for reading.</p>")
    page.get_by_label("Name", exact=True).fill("No way out")
    page.get_by_role("textbox", name="HTML layout").fill(typed)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.error")).to_contain_text(MUST_LINK)
    expect(page.get_by_label("Name", exact=True)).to_have_value("No way out")
    expect(page.get_by_role("textbox", name="HTML layout")).to_have_value(typed)
    assert count(Template) == 0

    page.get_by_role("textbox", name="HTML layout").fill(layout(LINK))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved the layout No way out.")
    assert db.session.scalars(select(Template.html)).all() == [layout(LINK)]
