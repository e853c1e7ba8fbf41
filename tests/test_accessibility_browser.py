"""Every page of the panel and every public page passes axe-core's WCAG 2.x A/AA rules with no
serious or critical violation, at desktop and phone widths; and the panel can be used from
the keyboard, with a visible focus on everything that takes it.

The world is seeded, the organiser logs in and every page is checked once per module (both
widths on one load); each page's test then reads its own result, so a failure names it.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from werkzeug.exceptions import NotFound

from app import panel, public
from tests.support.accessibility import violations
from tests.support.browser import EMAIL, PASSWORD
from tests.support.live_server import LiveServer
from tests.support.world import World, public_pages, seed

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
# Which objects a page is shown for, by the argument its URL takes.
SHOWN_FOR = {
    "campaign_id": ("sent", "draft"),
    "job_id": ("done", "uploaded"),
    "kind": ("confirm", "goodbye"),
}
NOT_HTML = re.compile(
    r"\.(json|csv|txt|atom|ico)$|/export\.|/progress$|^/imports/[^/]+/report$"
)  # data
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => done()))"
EXTRA_PANEL_PAGES = {
    "/campaigns/<draft>/variant?language=uk": "/campaigns/{draft}/variant?language=uk",
    "/subscribers?q=olena": "/subscribers?q=olena",
    "/nowhere (404)": "/nowhere",
}


def _routes() -> Flask:
    """The panel's and the public routes, without the rest of the app."""
    routes = Flask(__name__)
    routes.register_blueprint(panel.blueprint)
    routes.register_blueprint(public.blueprint)
    return routes


def _rules(blueprint: str) -> list[str]:
    """The GET HTML pages of a blueprint, as URL rules, read from the routes themselves."""
    return sorted(
        r.rule
        for r in _routes().url_map.iter_rules()
        if r.endpoint.startswith(f"{blueprint}.")
        and "GET" in (r.methods or ())
        and not NOT_HTML.search(r.rule)
    )


def _panel_pages() -> dict[str, str]:
    """Each panel page by a readable name (the rule, with the object it shows) and its URL
    pattern, whose ``{label}`` fields the world fills."""
    pages = {}
    for rule in _rules("panel"):
        if rule == "/login":
            continue  # checked before logging in
        names = re.findall(r"<(?:\w+:)?(\w+)>", rule)
        for shown in itertools.product(*(SHOWN_FOR.get(n, (n,)) for n in names)):
            pattern = rule
            for name, label in zip(names, shown, strict=True):
                pattern = re.sub(rf"<(?:\w+:)?{name}>", f"<{label}>", pattern)
            pages[pattern] = pattern.replace("<", "{").replace(">", "}")
    return pages | EXTRA_PANEL_PAGES


PANEL_PAGES = _panel_pages()
PUBLIC_PAGES = (
    "sign-up",
    "confirm",
    "unsubscribe",
    "preferences",
    "preferences-expired",
    "fresh-link",
    "preview-link",
    "archive-index",
    "archive-page",
    "report",
    "not-found",
    "not-found-path",
)


def _url(world: World, pattern: str) -> str:
    """The URL of a page pattern in this world: ``{draft}`` by its label, ``{list_id}`` the one."""
    labels = {label: value for by in world.ids.values() for label, value in by.items()}
    labels |= {name: next(iter(by.values())) for name, by in world.ids.items()}
    return pattern.format(**labels)


def _check(page: Page, url: str) -> dict[str, list[str]]:
    """Open a page and run axe at each width; what it found, by width."""
    page.set_viewport_size(WIDTHS["desktop"])
    response = page.goto(url)
    kind = response.headers.get("content-type", "") if response else ""
    if not kind.startswith("text/html"):
        return dict.fromkeys(WIDTHS, [f"{url} is not an HTML page ({kind})"])
    found = {}
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.evaluate(NEXT_FRAME)  # the page's own resize handlers have run
        found[width] = [str(v) for v in violations(page)]
    return found


@pytest.fixture(scope="module")
def results(
    app: Flask, browser: Browser, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, list[str]]]]:
    """Seed the world, log in once and check every page; the findings by page and width."""
    from app.accounts import users
    from app.extensions import db

    catcher = tmp_path_factory.mktemp("catcher")
    saved = app.config["CATCHER_MAILDIR"]
    app.config["CATCHER_MAILDIR"] = str(catcher)
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        users.create_user(EMAIL, PASSWORD, "owner")
        world = seed(Path(catcher))
        db.session.remove()
    found = {}
    stranger = browser.new_context(base_url=live_server.url, locale="en-GB", bypass_csp=True)
    page = stranger.new_page()
    for name in PUBLIC_PAGES:
        found[name] = _check(page, world.public[name])
    stranger.close()
    owner = browser.new_context(base_url=live_server.url, locale="en-GB", bypass_csp=True)
    page = owner.new_page()
    found["/login"] = _check(page, "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    for name, pattern in PANEL_PAGES.items():
        found[name] = _check(page, _url(world, pattern))
    owner.close()
    yield found
    app.config["CATCHER_MAILDIR"] = saved


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", [*PUBLIC_PAGES, "/login", *PANEL_PAGES])
def test_no_serious_or_critical_violation(results, name: str, width: str) -> None:
    found = results[name][width]
    assert not found, f"{name} at {width} width:\n" + "\n".join(found)


FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    return {
        tag: el.tagName.toLowerCase(), text: (el.textContent || el.name || "").trim().slice(0, 40),
        inNav: !!el.closest("nav.site"), inForm: !!el.closest("main form"),
        visible: outline || style.boxShadow !== "none",
    };
}"""


def test_the_nav_and_a_form_are_reached_by_keyboard_with_a_visible_focus(owner_page: Page) -> None:
    page = owner_page
    page.set_viewport_size(WIDTHS["desktop"])
    page.goto("/groups")
    stops = []
    for _ in range(40):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop["tag"] == "body" or stop in stops[:1]:
            break
        stops.append(stop)
    nav = [s["text"] for s in stops if s["inNav"]]
    assert nav[:3] == ["Campaigns", "Lists", "Subscribers"] and "Log out" in nav
    assert any(s["inForm"] and s["tag"] in ("input", "select") for s in stops)
    assert any(s["inForm"] and s["tag"] == "button" for s in stops)
    hidden = [s for s in stops if not s["visible"]]
    assert not hidden, f"focused without a visible focus indicator: {hidden}"


def test_the_checker_sees_a_violation_when_there_is_one(page: Page) -> None:
    page.set_content("<html><body><main><input type=text><button></button></main></body></html>")
    rules = {v.rule for v in violations(page)}
    assert {"label", "button-name", "html-has-lang"} <= rules


def test_every_public_page_is_checked(app: Flask) -> None:
    routes = _routes().url_map
    adapter = routes.bind("news.example.org")
    with app.app_context():
        pages = public_pages("person", "campaign", 1)
    assert set(pages) == set(PUBLIC_PAGES)
    checked = set()
    for path in pages.values():
        with contextlib.suppress(NotFound):
            checked.add(adapter.match(path)[0])
    every = {r.endpoint for r in routes.iter_rules() if r.rule in _rules("public")}
    # /archive/ only sends the reader on to the index in their language.
    assert every - checked == {"public.archive_home"}


def test_on_a_phone_the_menu_opens_from_the_keyboard_and_shows_its_focus(owner_page: Page) -> None:
    page = owner_page  # at phone width
    page.goto("/groups")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "nav-menu"
    label = page.locator("label[for=nav-menu]")
    assert label.evaluate("(el) => getComputedStyle(el).outlineStyle") != "none"
    expect(page.get_by_role("link", name="Campaigns")).to_be_hidden()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Campaigns"
    expect(page.get_by_role("link", name="Campaigns")).to_be_visible()
