"""The panel's own 404 and 500 pages, the archive's address without a language, the icon."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.accounts import users
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.panel import login

SECRET = "a detail only the traceback holds"


@pytest.fixture()
def organiser(app):
    users.create_user("owner@example.org", "correct horse battery", "owner")
    client = app.test_client()
    login(client, "owner@example.org")
    return client


def test_a_missing_panel_page_is_the_panels_own_404_with_a_way_back(organiser):
    for path in ("/no-such-page", "/campaigns/999999"):
        response = organiser.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "<h1>Page not found</h1>" in body
        assert 'href="/campaigns"' in body and "Mail catcher" in body  # the panel's layout
        assert "Werkzeug" not in body and "The requested URL" not in body


def test_a_missing_page_signed_out_offers_the_login(app):
    response = app.test_client().get("/no-such-page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in body and 'href="/login"' in body
    assert "The requested URL" not in body


def test_a_panel_view_that_raises_shows_the_panels_500_without_a_traceback(
    app, organiser, monkeypatch
):
    def broken(*_args: object) -> list:
        raise RuntimeError(SECRET)

    monkeypatch.setattr("app.panel.campaigns.listing.page_of", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = organiser.get("/campaigns")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in body and "Go back" not in body
    assert 'href="/campaigns"' in body  # a way back, inside the panel's layout
    assert SECRET not in body and "Traceback" not in body and "RuntimeError" not in body


def test_a_route_outside_the_blueprints_that_raises_gets_the_panels_500():
    from app import create_app

    test_app = create_app({"TESTING": False})

    @test_app.get("/boom")
    def boom() -> str:
        raise RuntimeError(SECRET)

    response = test_app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in body
    assert SECRET not in body and "Traceback" not in body


def test_public_pages_keep_their_translated_errors(app):
    response = app.test_client().get("/u/not-a-token-at-all", headers={"Accept-Language": "uk"})
    assert response.status_code in (400, 404)
    assert "посилання" in response.get_data(as_text=True)
    response = app.test_client().get("/archive/xx-!!/", headers={"Accept-Language": "de"})
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("accept", "language"),
    [("uk-UA,uk;q=0.9,en;q=0.5", "uk"), ("pt-BR, de;q=0.8", "de"), ("ja", "en"), (None, "en")],
)
def test_the_archive_without_a_language_goes_to_the_readers_language(app, accept, language):
    headers = {"Accept-Language": accept} if accept else {}
    response = app.test_client().get("/archive/", headers=headers)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/archive/{language}/"
    assert "Accept-Language" in response.headers.get("Vary", "")
    assert app.test_client().get(response.headers["Location"]).status_code == 200


def test_the_favicon_is_served_and_linked_from_panel_and_public_pages(app, organiser):
    with app.test_client().get("/favicon.ico") as icon:
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml" and icon.get_data().startswith(b"<svg")
    for client, path in ((organiser, "/campaigns"), (app.test_client(), "/archive/en/")):
        body = client.get(path).get_data(as_text=True)
        assert '<link rel="icon" href="/favicon.ico"' in body, path


@pytest.mark.slow
def test_in_the_browser_a_missing_page_leads_back_and_the_icon_loads(page: Page):
    users.create_user(EMAIL, PASSWORD, "owner")
    log_in(page)
    icons = []
    page.on("response", lambda r: icons.append(r.status) if "favicon" in r.url else None)
    page.goto("/campaigns/424242")
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator("nav")).to_contain_text(f"{EMAIL} (owner)")
    icon_loaded = "img => fetch(img).then(r => r.ok)"
    assert page.evaluate(icon_loaded, page.locator('link[rel="icon"]').get_attribute("href"))
    page.locator("main").get_by_role("link", name="Campaigns").click()
    expect(page.locator("h1")).to_contain_text("Campaigns")
    assert 404 not in icons
