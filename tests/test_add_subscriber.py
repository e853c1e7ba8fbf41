"""Adding a subscriber by hand: lists as checkboxes, errors where seen, no silent update."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.audience import subscribers
from app.extensions import db
from app.models import Subscriber, Subscription
from tests.support.factories import make_list, make_subscriber, make_subscribers
from tests.support.panel import flashed, text


def _label_of(page: str, field: str) -> str:
    """The HTML of the <label> or <fieldset> that holds the field with this id."""
    start = page.index(f'id="{field}"')
    opening = max(page.rfind("<label", 0, start), page.rfind("<fieldset", 0, start))
    closing = page.index("</label>" if page.startswith("<label", opening) else "</fieldset>", start)
    return page[opening:closing]


def test_adding_an_address_that_exists_says_so_links_to_it_and_changes_nothing(client):
    partners, other = make_list(name="Partners"), make_list(name="Other")
    ann = make_subscriber("ann@example.org", name="Ann", language="en", lists=[partners])
    before = db.session.scalars(select(Subscription.list_id)).all()
    response = client.post(
        "/subscribers",
        data={
            "email": "Ann@Example.org",
            "name": "Someone else",
            "language": "uk",
            "group": "0",
            "lists": [str(other.id)],
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert "is already a subscriber" in page and "nothing was changed" in page
    assert f'<a href="/subscribers/{ann.id}">Open their page</a>' in page
    assert not any(m.startswith("Added") for m in flashed(response))
    db.session.expire_all()
    stored = subscribers.find("ann@example.org")
    assert (stored.name, stored.language) == ("Ann", "en")
    assert db.session.scalars(select(Subscription.list_id)).all() == before
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


def _summary(page: str) -> str:
    """The list of errors above everything else on the page."""
    start = page.index('id="add-errors"')
    assert start < page.index('id="filters"')
    return page[start : page.index("</div>", start)]


def test_errors_are_shown_at_their_field_and_summed_up_at_the_top(client):
    partners = make_list(name="Partners")
    bad = text(
        client.post(
            "/subscribers",
            data={
                "email": "not an address",
                "language": "en",
                "group": "0",
                "lists": [str(partners.id)],
            },
        )
    )
    assert "is not a valid address" in _label_of(bad, "email")
    assert "is not a valid address" in _summary(bad)
    assert '<a href="#email">Email</a>' in _summary(bad)

    missing = text(client.post("/subscribers", data={"email": "", "language": "en", "group": "0"}))
    assert "This field is required." in _label_of(missing, "email")
    assert "Choose at least one list." in _label_of(missing, "lists")
    assert '<a href="#lists">Lists</a>' in _summary(missing)
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


@pytest.mark.slow
def test_lists_are_checkboxes_and_an_error_is_seen_on_the_first_screen(owner_page: Page) -> None:  # noqa: F811
    page = owner_page
    page.set_viewport_size({"width": 1280, "height": 800})
    partners, other = make_list(name="Partners"), make_list(name="Neighbours")
    make_subscribers(60, lists=[partners])  # a long page: the form is far below the fold
    page.goto("/subscribers")
    form = page.locator("#add-subscriber")
    expect(form.get_by_role("checkbox", name="Partners")).to_be_visible()
    expect(form.get_by_role("checkbox", name="Neighbours")).to_be_visible()
    assert form.locator("select[multiple]").count() == 0

    form.get_by_label("Email").fill("not an address")
    form.get_by_role("checkbox", name="Neighbours").check()
    form.get_by_role("button", name="Add subscriber").click()
    summary = page.locator("#add-errors")
    expect(summary).to_contain_text("is not a valid address")
    expect(summary).to_be_in_viewport()
    assert page.evaluate("window.scrollY") == 0
    field_error = page.locator("#add-subscriber .error")
    expect(field_error).to_contain_text("is not a valid address")
    # The form kept what was typed and chosen.
    expect(
        page.locator("#add-subscriber").get_by_role("checkbox", name="Neighbours")
    ).to_be_checked()

    page.locator("#add-subscriber").get_by_label("Email").fill("olena@example.org")
    page.locator("#add-subscriber").get_by_role("button", name="Add subscriber").click()
    expect(page.locator(".flash").first).to_have_text("Added olena@example.org.")
    olena = subscribers.find("olena@example.org")
    assert olena is not None
    chosen = select(Subscription.list_id).where(Subscription.subscriber_id == olena.id)
    assert db.session.scalars(chosen).all() == [other.id]
    assert re.search(r"/subscribers\?q=olena", page.url)
