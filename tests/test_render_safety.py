"""Rendering never fetches anything, and no template or value can put active content into the
HTML a reader receives or the archive shows."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.extensions import db
from app.models import Template
from app.services import campaigns, templates
from emails.rendering import css_plain
from tests.support.factories import make_campaign, make_list, make_subscriber

# ---------------------------------------------------------------------------------------------
# No fetch while rendering
# ---------------------------------------------------------------------------------------------


class Canary:
    """A real HTTP server on loopback that answers every request with CSS and records it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                canary.requests.append(self.path)
                body = b"p { color: #c0ffee; }"
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Staller:
    """A socket that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.listener.close()


@pytest.fixture()
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.close()


@pytest.fixture()
def staller() -> Iterator[Staller]:
    server = Staller()
    yield server
    server.close()


def fetching_styles(base: str) -> str:
    """CSS that names ``base`` in every way we know a stylesheet can ask for a URL."""
    return "\n".join(
        [
            f"@import url({base}/plain.css);",
            f"@IMPORT url({base}/upper.css);",
            f"@iMpOrT '{base}/mixed-case.css';",
            f"@\\69mport url({base}/hex-escape.css);",
            f"@\\69 mport url({base}/hex-escape-space.css);",
            f"@\\000069mport url({base}/long-hex-escape.css);",
            f"@im\\port url({base}/letter-escape.css);",
            f"@\\49 MPORT url({base}/upper-escape.css);",
            f"@im/**/port url({base}/comment-inside.css);",
            f'@import "{base}/string.css" screen;',
            f"@import url( '{base}/spaced.css' ) all;",
            "@import url(relative-file.css);",
            "@import url(file:///etc/passwd);",
            f"@font-face {{ font-family: Canary; src: url({base}/font.woff); }}",
            f".banner {{ background: url({base}/background.png); }}",
            f"@media screen {{ @import url({base}/nested.css); }}",
        ]
    )


def fetching_layout(base: str, stalling: str) -> str:
    """A layout whose every stylesheet asks for ``base`` and ``stalling`` in every way."""
    return (
        "<!DOCTYPE html><html><head>"
        f'<link rel="stylesheet" href="{base}/link.css">'
        f"<LINK REL=stylesheet HREF={base}/link-upper.css>"
        f"<style>{fetching_styles(base)}\n{fetching_styles(stalling)}</style>"
        f"<style>@\\69mport url({base}/second-style.css); p {{ color: red; }}</style>"
        "</head><body>"
        f'<p class="banner" style="background: url({base}/style-attribute.png)">Hi</p>'
        f'<p style="@\\69mport url({base}/import-in-attribute.css)">There</p>'
        "{{ content }}</body></html>"
    )


def test_cssutils_fetches_nothing_once_rendering_is_imported(canary, staller):
    import cssutils

    started = time.monotonic()
    for base in (canary.url, staller.url):
        for sheet in (
            cssutils.parseString(f"@import url({base}/direct.css);"),
            cssutils.CSSParser().parseString(f"@\\69mport url({base}/parser.css);"),
            cssutils.parseString(fetching_styles(base)),
        ):
            imported = [r for r in sheet.cssRules if r.type == r.IMPORT_RULE]
            assert all(not r.styleSheet.cssRules for r in imported)
        assert cssutils.parseUrl(f"{base}/parse-url.css") is None
    assert time.monotonic() - started < 5
    assert canary.requests == []
    assert staller.accepted == []


def test_a_file_named_by_import_is_never_read(tmp_path):
    import cssutils

    secret = tmp_path / "secret.css"
    secret.write_text("p { color: #5ec7e7; }")
    for spelling in (f"url(file://{secret})", f"'{secret.as_uri()}'"):
        sheet = cssutils.parseString(f"@import {spelling};")
        assert not sheet.cssRules[0].styleSheet.cssRules


def _save_within(seconds: float, html: str) -> Template | BaseException:
    """Save a layout through the service in a thread; fail if it does not finish in time."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    outcome: list[Template | BaseException] = []

    def save() -> None:
        with app.app_context():
            try:
                template = templates.save_template("Fetching", html)
                outcome.append(db.session.get(Template, template.id))
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                outcome.append(exc)

    thread = threading.Thread(target=save, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"saving the layout took more than {seconds} s"
    return outcome[0]


def test_saving_a_layout_fetches_nothing_however_the_css_spells_it(app, canary, staller):
    html = fetching_layout(canary.url, staller.url)
    saved = _save_within(10, html)
    assert isinstance(saved, Template), saved
    assert canary.requests == []
    assert staller.accepted == []


def test_sending_with_such_a_layout_fetches_nothing_and_takes_the_usual_time(
    app, run_worker, smtp, canary, staller
):
    html = fetching_layout(canary.url, staller.url)
    layout = Template(name="Fetching", html=html)  # as an older version may have stored it
    db.session.add(layout)
    db.session.commit()
    partners = make_list()
    for n in range(3):
        make_subscriber(f"reader{n}@example.org", lists=[partners])
    campaign = make_campaign({"en": ("Hello", "Hi {{ name }}")}, lists=[partners], template=layout)
    started = time.monotonic()
    campaigns.start_sending(campaign.id)
    run_worker.until_sent(campaign.id, timeout=30)
    assert time.monotonic() - started < 30
    assert len(smtp.messages) == 3
    assert canary.requests == []
    assert staller.accepted == []
    html_part = smtp.messages[0].get_body(("html",)).get_content()
    assert "@import" not in css_plain(html_part), "nor does the reader's mail client"
