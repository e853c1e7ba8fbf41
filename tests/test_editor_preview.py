"""The variant editor's live preview: unsaved text rendered as a send's preview would be,
template errors at their line, nothing saved, limits, roles and CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.campaigns import drafts
from app.errors import TooLong
from app.extensions import db
from app.messages import previews
from app.models import Campaign, Variant
from tests.support.factories import make_campaign
from tests.support.panel import Client, signed_in

BODY = "# Hello {{ name | default('friends') }}\n\nWe meet on **Friday**, [details](https://example.org/x).\n"
SUBJECT = "Meeting, {{ name | default('friends') }}"


def _url(campaign: Campaign) -> str:
    return f"/campaigns/{campaign.id}/variant/draft-preview"


def _post(client: Client, campaign: Campaign, **draft: str):
    payload = {"language": "en", "subject": "Hello", "body": "Hi", **draft}
    return client.http.post(_url(campaign), json=payload, headers={"X-CSRFToken": client.token})


def _stored(campaign_id: int) -> list[tuple[str, str, str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(select(Variant).where(Variant.campaign_id == campaign_id))
    return sorted((v.language, v.subject, v.preheader, v.body) for v in rows)


def test_a_draft_renders_as_the_saved_variant_preview_does(client: Client) -> None:
    campaign = make_campaign({"en": (SUBJECT, BODY)})

    answer = _post(client, campaign, subject=SUBJECT, body=BODY)

    assert answer.status_code == 200
    shown = answer.get_json()
    saved = previews.preview(campaign, "en")
    assert shown["error"] is None
    assert (shown["subject"], shown["html"], shown["text"]) == (
        saved.subject,
        saved.html,
        saved.text,
    )
    assert shown["subject"] == "Meeting, friends"
    assert "<strong>Friday</strong>" in shown["html"]
    assert ">Hello friends</h1>" in shown["html"]
    assert "/preview-link/unsubscribe" in shown["html"]  # inert links, as in any preview


def test_a_draft_for_a_new_language_renders_with_that_language_footer(client: Client) -> None:
    campaign = make_campaign({"en": "Hello"})

    shown = _post(client, campaign, language="uk", subject="Привіт", body="*Так*").get_json()

    assert shown["error"] is None
    assert "<em>Так</em>" in shown["html"]
    assert 'lang="uk"' in shown["html"]


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("Hello\n\n{{ name | nosuchfilter }}\n", 3, "No filter named 'nosuchfilter'"),
        ("Hello\n{% if name %}\nfriend\n", 2, "Unexpected end of template"),
        ("Hello\n\n\n{{ config }}\n", 4, "unknown value config"),
        ("Hello\n{{ name }\n", 2, "unexpected '}'"),
        ("One\nTwo\n{{ attributes.city.street }}\n", 3, "has no attribute 'city'"),
    ],
)
def test_a_template_error_names_its_line_in_the_body(
    client: Client, body: str, line: int, words: str
) -> None:
    campaign = make_campaign({"en": "Hello"})

    answer = _post(client, campaign, body=body)

    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert (error["line"], error["part"]) == (line, "body")
    assert words in error["message"]
    assert answer.get_json()["html"] is None


def test_an_error_in_the_subject_is_reported_there(client: Client) -> None:
    campaign = make_campaign({"en": "Hello"})

    error = _post(client, campaign, subject="Hi {{ nobody }}").get_json()["error"]

    assert (error["line"], error["part"]) == (1, "subject")
    assert "unknown value nobody" in error["message"]


def test_previewing_saves_nothing(client: Client) -> None:
    campaign = make_campaign({"en": ("Hello", "Saved body")})
    before = _stored(campaign.id)

    assert _post(client, campaign, body="Changed *body*").status_code == 200
    assert _post(client, campaign, language="de", body="Neu").status_code == 200
    assert _post(client, campaign, body="{{ broken").status_code == 422

    assert _stored(campaign.id) == before == [("en", "Hello", "", "Saved body")]
    assert db.session.scalar(select(func.count()).select_from(Variant)) == 1


def test_an_oversized_draft_is_refused_with_a_clear_error(
    client: Client, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign({"en": ("Hello", "Saved body")})
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)

    answer = _post(client, campaign, body="x" * 5000)

    assert answer.status_code == 413
    error = answer.get_json()["error"]
    assert "is over the limit of 4,096 bytes; nothing was read" in error["message"]
    assert error["part"] == "body"
    assert _stored(campaign.id) == [("en", "Hello", "", "Saved body")]


def test_the_service_refuses_a_body_over_the_limit_counted_in_bytes(
    app, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign({"en": "Hello"})
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    fits = previews.Draft("en", "Hello", "", "я" * 500)  # 1,000 bytes

    assert "я" * 10 in previews.preview_draft(campaign, fits).text
    with pytest.raises(TooLong, match="the body is 1,002 bytes"):
        previews.preview_draft(campaign, previews.Draft("en", "Hello", "", "я" * 501))
    with pytest.raises(TooLong, match="subject is longer than 500"):
        previews.preview_draft(campaign, previews.Draft("en", "x" * 501, "", "Hi"))


def test_a_bad_language_or_format_is_a_clear_error(client: Client) -> None:
    campaign = make_campaign({"en": "Hello"})

    bad_tag = _post(client, campaign, language="not a tag")
    bad_format = _post(client, campaign, body_format="docx")
    not_json = client.http.post(
        _url(campaign), data="body=x", headers={"X-CSRFToken": client.token}
    )

    assert bad_tag.status_code == bad_format.status_code == not_json.status_code == 422
    assert "is not a language tag" in bad_tag.get_json()["error"]["message"]
    assert "markdown or html" in bad_format.get_json()["error"]["message"]
    assert "JSON object" in not_json.get_json()["error"]["message"]


def test_only_editors_and_owners_preview_drafts(app) -> None:
    """The panel's rule for every POST: viewers read, editors and owners write (a viewer
    still sees the saved variants' preview page)."""
    campaign = make_campaign({"en": ("Hello", "Saved body")})
    for role, status in (("viewer", 403), ("editor", 200)):
        http = signed_in(app, role)
        page = http.get(f"/campaigns/{campaign.id}/variant?language=en").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        answer = http.post(
            _url(campaign),
            json={"language": "en", "subject": "Hi", "body": "Draft"},
            headers={"X-CSRFToken": token},
        )
        assert answer.status_code == status, role
    assert signed_in(app, "owner").get(f"/campaigns/{campaign.id}/preview/en").status_code == 200
    assert _stored(campaign.id) == [("en", "Hello", "", "Saved body")]


def test_a_draft_preview_needs_the_csrf_token(client: Client) -> None:
    campaign = make_campaign({"en": "Hello"})
    payload = {"language": "en", "subject": "Hi", "body": "Draft"}

    missing = client.http.post(_url(campaign), json=payload)
    wrong = client.http.post(_url(campaign), json=payload, headers={"X-CSRFToken": "forged"})

    assert missing.status_code == wrong.status_code == 400
    assert b"Draft" not in missing.data


def test_a_script_in_the_body_is_sanitised_as_sending_does(client: Client) -> None:
    body = '<p>Hi</p><script>alert(1)</script><img src="x.png" onerror="alert(2)" alt="x">'
    campaign = make_campaign({"en": "Hello"})
    drafts.save_variant(campaign.id, "en", subject="Hello", body=body, body_format="html")

    shown = _post(client, campaign, body=body, body_format="html").get_json()
    markdown = _post(client, campaign, body="Hi <script>alert(3)</script>").get_json()

    assert shown["html"] == previews.preview(campaign, "en").html
    for html in (shown["html"], markdown["html"]):
        assert "<script" not in html.lower()
        assert "onerror" not in html.lower()
    assert "alert(1)" not in shown["html"]
    assert "&lt;script&gt;alert(3)" in markdown["html"]  # Markdown shows raw HTML as text


def test_the_editor_page_loads_its_script_under_the_panel_policy(client: Client) -> None:
    campaign = make_campaign({"en": "Hello"})

    page = client.get(f"/campaigns/{campaign.id}/variant?language=en")

    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    html = page.get_data(as_text=True)
    assert '<script type="module" nonce="' in html and "/static/editor.js" in html
    assert '<iframe class="mail" id="preview-frame"' in html and 'sandbox=""' in html
    assert f'data-preview="/campaigns/{campaign.id}/variant/draft-preview"' in html


def test_a_viewer_gets_the_plain_editor_without_the_live_preview(app) -> None:
    campaign = make_campaign({"en": "Hello"})

    html = signed_in(app, "viewer").get(f"/campaigns/{campaign.id}/variant?language=en")

    assert "editor.js" not in html.get_data(as_text=True)
    assert 'name="body"' in html.get_data(as_text=True)


def test_a_draft_of_a_missing_campaign_is_not_found(client: Client) -> None:
    answer = client.http.post(
        "/campaigns/9999/variant/draft-preview",
        json={"language": "en", "subject": "Hi", "body": "x"},
        headers={"X-CSRFToken": client.token},
    )

    assert answer.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Variant)) == 0
