"""Bulk actions on a whole filter in a real browser: filter by a list and a language, choose
"all matching", an action and its target; the confirmation page names the action, the
target and the count; confirm; the database holds exactly that change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.accounts import users
from app.extensions import db
from app.models import MailingList, Subscriber, Subscription
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.factories import make_list, make_subscriber

pytestmark = pytest.mark.slow

PARTNERS, SUPPORTERS, PRESS = "Partner collectives", "Supporters", "Press contacts"
# address -> (language, lists)
PEOPLE = {
    "olena@example.org": ("uk", [PARTNERS, SUPPORTERS]),
    "taras@example.org": ("uk", [PARTNERS, SUPPORTERS]),
    "iryna@example.org": ("uk", [PARTNERS, SUPPORTERS, PRESS]),
    "mykola@example.org": ("uk", [PARTNERS]),
    "ann@example.org": ("en", [PARTNERS, SUPPORTERS]),
    "oksana@example.org": ("uk", [SUPPORTERS]),
}
ON_PARTNERS_IN_UK = {
    "olena@example.org",
    "taras@example.org",
    "iryna@example.org",
    "mykola@example.org",
}


def make_people() -> dict[str, MailingList]:
    lists = {name: make_list(name=name) for name in (PARTNERS, SUPPORTERS, PRESS)}
    for email, (language, names) in PEOPLE.items():
        make_subscriber(email, language=language, lists=[lists[n] for n in names])
    return lists


def memberships() -> dict[str, dict[str, str]]:
    """Every subscriber's lists and their status, as the database holds them now."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Subscriber.email, MailingList.name, Subscription.status)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
    )
    found: dict[str, dict[str, str]] = {}
    for email, name, status in rows:
        found.setdefault(email, {})[name] = status.value
    return found


def languages() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Subscriber.email, Subscriber.language)).all())


def filter_by_partners_in_uk(page: Page) -> None:
    page.locator("nav").get_by_role("link", name="Subscribers", exact=True).click()
    filters = page.locator("#filters")
    filters.locator("select[name=list]").select_option(label=PARTNERS)
    filters.get_by_label("Language").fill("uk")
    filters.get_by_role("button", name="Search").click()
    expect(page.locator("#total")).to_contain_text("4 matching")  # mykola too


def test_removing_all_matching_from_another_list_than_the_filters(app, page: Page):
    users.create_user(EMAIL, PASSWORD, "owner")
    make_people()
    before = memberships()
    log_in(page)
    filter_by_partners_in_uk(page)
    bulk = page.locator("#bulk")
    bulk.get_by_label("all 4 matching the filter").check()
    bulk.get_by_label("Action").select_option(label="Remove from list")
    bulk.get_by_label("List (to add to or remove from)").select_option(label=SUPPORTERS)
    bulk.get_by_role("button", name="Apply…").click()

    expect(page.locator("h1")).to_have_text("Remove from the list Supporters: 4 subscribers?")
    expect(page.locator("#bulk-action")).to_have_text("Remove from list")
    expect(page.locator("#bulk-target")).to_have_text(SUPPORTERS)
    expect(page.locator("#bulk-count")).to_have_text("4 subscribers")
    expect(page.locator("#bulk-who")).to_have_text(
        "Every subscriber matching the filter: on the list Partner collectives, "
        "language uk, as of now."
    )
    page.locator("#confirm").click()

    expect(page.locator(".flash")).to_have_text("Removed 3 from Supporters.")  # mykola: not on it
    expect(page).to_have_url(re.compile(r"/subscribers\?list=\d+&language=uk$"))
    expected = {
        email: {
            name: "unsubscribed" if email in ON_PARTNERS_IN_UK and name == SUPPORTERS else status
            for name, status in lists.items()
        }
        for email, lists in before.items()
    }
    assert memberships() == expected
    assert all(after[PARTNERS] == "confirmed" for e, after in expected.items() if PARTNERS in after)
    assert {e for e, lists in memberships().items() if lists.get(SUPPORTERS) == "confirmed"} == {
        "ann@example.org",
        "oksana@example.org",
    }


def test_changing_the_language_of_all_matching_to_the_one_typed(app, page: Page):
    users.create_user(EMAIL, PASSWORD, "owner")
    make_people()
    before = memberships()
    log_in(page)
    filter_by_partners_in_uk(page)
    bulk = page.locator("#bulk")
    bulk.get_by_label("all 4 matching the filter").check()
    bulk.get_by_label("Action").select_option(label="Change language")
    bulk.get_by_label("New language").fill("fr")
    bulk.get_by_role("button", name="Apply…").click()

    expect(page.locator("h1")).to_have_text("Change the language to fr: 4 subscribers?")
    expect(page.locator("#bulk-action")).to_have_text("Change language")
    expect(page.locator("#bulk-target")).to_have_text("fr (Français)")
    expect(page.locator("#bulk-count")).to_have_text("4 subscribers")
    page.locator("#confirm").click()

    expect(page.locator(".flash")).to_have_text("Changed the language of 4 to fr.")
    assert languages() == {
        "olena@example.org": "fr",
        "taras@example.org": "fr",
        "iryna@example.org": "fr",
        "mykola@example.org": "fr",
        "ann@example.org": "en",
        "oksana@example.org": "uk",
    }
    assert memberships() == before  # no list changed
    # The filter (language uk) now finds nobody on Partner collectives.
    expect(page.locator("#total")).to_contain_text("0 matching")
