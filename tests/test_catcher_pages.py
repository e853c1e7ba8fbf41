"""The mail catcher a page at a time, newest first, searchable; a long message fits the screen.

Messages are dropped into the catcher's Maildir with file times a second apart, named so
that their keys sort in another order than their times.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import app.catcher
from app.accounts import users
from tests.support.browser import EMAIL, PASSWORD, log_in
from tests.support.maildir import MALFORMED, drop
from tests.support.panel import login

START = 1_700_000_000


@pytest.fixture()
def maildir(app, tmp_path):
    folder = tmp_path / "maildir"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True)
    app.config["CATCHER_MAILDIR"] = str(folder)
    yield folder
    app.config["CATCHER_MAILDIR"] = os.environ["TOCSIN_CATCHER_MAILDIR"]


@pytest.fixture()
def editor(app):
    users.create_user("editor@example.org", "correct horse battery", "editor")
    client = app.test_client()
    login(client, "editor@example.org")
    return client


def catch(folder: Path, number: int, to: str, subject: str, delivered_to: str = "") -> None:
    """One caught message, its file dated ``number`` seconds after START."""
    trace = f"Delivered-To: {delivered_to or to}\r\n"
    raw = f"{trace}To: {to}\r\nSubject: {subject}\r\n\r\nBody {number}\r\n".encode()
    path = folder / "new" / f"msg{number}.catcher"  # msg9 sorts after msg10 by name
    path.write_bytes(raw)
    os.utime(path, ns=((START + number) * 10**9,) * 2)


def subjects(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<a href="/catcher/[^"]+">([^<]*)</a>', response.get_data(as_text=True))


def bulletins(numbers) -> list[str]:
    return [f"Bulletin {n}" for n in numbers]


def test_the_catcher_shows_50_newest_a_page_and_the_rest_on_the_last(editor, maildir):
    for number in range(120):
        catch(maildir, number, f"person{number}@example.org", f"Bulletin {number}")
    first = editor.get("/catcher")
    assert subjects(first) == bulletins(range(119, 69, -1))
    assert "120 caught · page 1 of 3" in first.get_data(as_text=True)
    assert 'href="/catcher?page=2">Older' in first.get_data(as_text=True)
    assert subjects(editor.get("/catcher?page=2")) == bulletins(range(69, 19, -1))
    last = editor.get("/catcher?page=3")
    assert subjects(last) == bulletins(range(19, -1, -1))
    assert "Older" not in last.get_data(as_text=True)
    assert subjects(editor.get("/catcher?page=99")) == bulletins(range(19, -1, -1))
    assert subjects(editor.get("/catcher?page=nonsense")) == bulletins(range(119, 69, -1))


def test_a_page_reads_only_its_own_messages(editor, maildir, monkeypatch):
    for number in range(120):
        catch(maildir, number, f"person{number}@example.org", f"Bulletin {number}")
    read = []
    original = app.catcher._read_head
    monkeypatch.setattr(app.catcher, "_read_head", lambda path: read.append(path) or original(path))
    assert len(subjects(editor.get("/catcher?page=2"))) == 50
    assert sorted(p.name for p in read) == sorted(f"msg{n}.catcher" for n in range(20, 70))


def test_search_by_recipient_finds_exactly_theirs(editor, maildir):
    for number in range(120):
        to = "Olena <olena@example.org>" if number % 7 == 0 else f"olenka{number}@example.org"
        catch(maildir, number, to, f"Bulletin {number}")
    catch(maildir, 200, "list@example.org", "Bulletin 200", delivered_to="olena@example.org")
    response = editor.get("/catcher?to=OLENA@example.org")
    expected = bulletins(
        [200, *range(119, -1, -1)][:1] + [n for n in range(119, -1, -1) if n % 7 == 0]
    )
    assert subjects(response) == expected
    assert f"{len(expected)} matching · page 1 of 1" in response.get_data(as_text=True)


def test_search_by_subject_finds_exactly_those_and_pages_them(editor, maildir):
    for number in range(120):
        subject = f"Тиждень дій {number}" if number % 2 else f"Week of action {number}"
        catch(maildir, number, f"person{number}@example.org", subject)
    odd = [f"Тиждень дій {n}" for n in range(119, 0, -2)]
    first = editor.get("/catcher?subject=тиждень+ДІЙ")
    assert subjects(first) == odd[:50]
    assert "60 matching · page 1 of 2" in first.get_data(as_text=True)
    link = re.search(r'href="(/catcher\?[^"]*page=2[^"]*)">Older', first.get_data(as_text=True))
    assert subjects(editor.get(link.group(1).replace("&amp;", "&"))) == odd[50:]
    both = editor.get("/catcher?subject=week&to=person10")
    assert subjects(both) == [
        "Week of action 108",
        "Week of action 106",
        "Week of action 104",
        "Week of action 102",
        "Week of action 100",
        "Week of action 10",
    ]
    nothing = editor.get("/catcher?subject=no+such+words")
    assert subjects(nothing) == [] and "No caught message matches." in nothing.get_data(
        as_text=True
    )


def test_malformed_files_are_still_listed_and_searchable(editor, maildir):
    drop(maildir, MALFORMED)
    listing = editor.get("/catcher").get_data(as_text=True)
    keys = set(re.findall(r'href="/catcher/([^"]+)"', listing))
    assert keys == {f"1700000000.{name}" for name in MALFORMED} | {"1700000001.flagged"}
    found = editor.get("/catcher?subject=week+of").get_data(as_text=True)
    assert re.findall(r'href="/catcher/([^"]+)"', found) == ["1700000000.encoded-name"]
    assert editor.get("/catcher?to=ann@example.org").status_code == 200


def test_viewers_still_cannot_open_the_catcher(app, maildir):
    catch(maildir, 1, "ann@example.org", "Bulletin 1")
    users.create_user("viewer@example.org", "correct horse battery", "viewer")
    client = app.test_client()
    login(client, "viewer@example.org")
    assert client.get("/catcher?to=ann").status_code == 403


LONG_URL = "https://example.org/act?" + "campaign=week-of-action&ref=" + "x" * 348
LONG_MESSAGE = (
    "Delivered-To: ann@example.org\r\n"
    f"To: {'a' * 120}@example.org\r\n"
    f"Subject: {'Week-of-action-' * 20}\r\n"
    f"List-Unsubscribe: <{LONG_URL}>\r\n"
    f"X-Tracking: {'z' * 500}\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    f"Join us: {LONG_URL}\r\n"
).encode()


@pytest.mark.slow
def test_a_message_with_long_urls_and_headers_fits_1280_pixels(page: Page, maildir):
    assert len(LONG_URL) == 400
    users.create_user(EMAIL, PASSWORD, "owner")
    (maildir / "new" / "1700000000.long").write_bytes(LONG_MESSAGE)
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page)
    for path in ("/catcher", "/catcher/1700000000.long"):
        page.goto(path)
        expect(page.locator("h1")).to_contain_text("Mail catcher")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] <= 1280, (path, widths)
    expect(page.locator("pre.text-part")).to_contain_text(LONG_URL[:60])
    expect(page.locator("table.headers")).to_contain_text("z" * 100)
    box = page.locator("pre.text-part").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
