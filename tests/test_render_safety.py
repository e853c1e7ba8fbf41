"""Rendering never fetches anything, and no template or value can put active content into the
HTML a reader receives or the archive shows."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.campaigns import drafts, lifecycle
from app.errors import InvalidInput
from app.extensions import db
from app.messages import layouts
from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from app.models import Template
from emails.errors import RenderError
from emails.rendering import CompiledVariant, VariantSource, css_plain
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
        '{{ content }}<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
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
                template = layouts.save_template("Fetching", html)
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
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id, timeout=30)
    assert time.monotonic() - started < 30
    assert len(smtp.messages) == 3
    assert canary.requests == []
    assert staller.accepted == []
    html_part = smtp.messages[0].get_body(("html",)).get_content()
    assert "@import" not in css_plain(html_part), "nor does the reader's mail client"


# ---------------------------------------------------------------------------------------------
# No active content through templates or values
# ---------------------------------------------------------------------------------------------

ACTIVE_ELEMENTS = {"script", "iframe", "frame", "object", "embed", "applet", "form", "input"}
ACTIVE_ELEMENTS |= {"button", "textarea", "select", "base", "svg", "math", "link", "meta"}
URL_ATTRIBUTES = {"href", "src", "action", "background", "poster", "formaction", "xlink:href"}
URL_ATTRIBUTES |= {"data", "cite", "longdesc", "lowsrc", "dynsrc", "srcset"}


class Elements(HTMLParser):
    """Every element a browser's tokenizer finds, with its decoded attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def active_content(html: str) -> list[str]:
    """What in ``html`` could run or be submitted: elements, handlers, script URLs."""
    reader = Elements()
    reader.feed(html.replace("--!>", "-->"))  # browsers end a comment there too
    reader.close()
    problems = []
    for tag, attrs in reader.found:
        if tag in ACTIVE_ELEMENTS and not (
            tag == "meta" and all(n != "http-equiv" for n, _ in attrs)
        ):
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"srcdoc", "formaction"}:
                problems.append(f"<{tag} {name}>")
            if name in URL_ATTRIBUTES and value:
                for url in value.split(",") if name == "srcset" else [value]:
                    probe = "".join(c for c in url if c > " " and c != "\x7f").lower()
                    if probe.startswith(("javascript:", "vbscript:", "data:")):
                        problems.append(f"<{tag} {name}={value!r}>")
    return problems


def compile_variant(body: str, body_format: str = "html", layout: str = DEFAULT_LAYOUT):
    source = VariantSource("en", "Hello", "Preview", body, body_format)
    return CompiledVariant(layout, source, text_footer())


HOSTILE_VALUES = [
    "javascript:alert(1)",
    " JAVASCRIPT:alert(1)",
    "jav\tascript:alert(1)",
    "\x00javascript:alert(1)",
    "jav&#x09;ascript:alert(1)",
    "&#106;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "java&NewLine;script:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    'x" onerror="alert(1)',
    "x' onerror='alert(1)",
    '"><script>alert(1)</script>',
    "x onmouseover=alert(1)",
]

# Templates an organiser (or whoever holds an organiser's password) might write in a body.
HOSTILE_BODIES = [
    ("html", """<img alt="{{ {'a': 'b onerror=alert(1) x'}|xmlattr }}" src="/p.png">"""),
    ("html", """<a href="{{ 'javascript:alert(2)' }}">x</a>"""),
    ("html", """<a href="{{ ' JAVASCRIPT:alert(2)' }}">x</a>"""),
    ("html", """<a href="{{ 'jav&#x09;ascript:alert(2)'|e }}">x</a>"""),
    ("html", """<a title='{{ {"a": "b\\" onclick=\\"alert(3)"}|tojson }}' href="/">x</a>"""),
    ("html", """{% set x %}" onerror="alert(4){% endset %}<img src="/p.png" alt="{{ x }}">"""),
    ("html", """{% macro m(u) %}<a href="{{ u }}">m</a>{% endmacro %}{{ m('javascript:x') }}"""),
    ("html", """<a href="{{ 'data:text/html,<script>alert(5)</script>' }}">d</a>"""),
    ("html", """<a href={{ 'x onmouseover=alert(6)' }}>u</a>"""),
    ("html", """<a href="{% if true %}java{% endif %}script:alert(7)">s</a>"""),
    (
        "html",
        """{% set x %}<img src="/p.png" xnerror="alert(8)">{% endset %}"""
        """{{ x|replace('xn', 'on') }}""",
    ),
    ("html", """{{ ('https://x.example'|urlize)|replace('href', 'onmouseover') }}"""),
    ("markdown", """[click]({{ 'javascript:alert(9)' }}) ![i]({{ 'data:image/svg+xml,x' }})"""),
    ("markdown", """{% set x %}" onclick="alert(10){% endset %}[a](https://x.example "{{ x }}")"""),
    ("markdown", """Hi {{ '<script>alert(11)</script>' }}"""),
]

HOSTILE_LAYOUTS = [
    "<script>alert(1)</script>",
    '<img src="/p.png" onerror="alert(1)">',
    '<img src="/p.png" ONERROR="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JAVASCRIPT:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="java&NewLine;script:alert(1)">x</a>',
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>',
    '<img srcset="/a.png 1x, data:image/svg+xml,x 2x">',
    '<iframe src="https://x.example"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<form action="https://x.example"><input name="a"><button>Go</button></form>',
    '<object data="https://x.example/x.swf"></object>',
    '<embed src="https://x.example/x.swf">',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"></svg>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<p style="background: url(javascript:alert(1))">x</p>',
    '<p style="width: expr\\65ssion(alert(1))">x</p>',
    '<td {% if true %}onclick="alert(1)"{% endif %}>x</td>',
    "<img {% if false %}>{% endif %} onerror=alert(1) src=/p.png>",
    "{% if false %}<!--{% endif %}<b>-->x</b>",
    '<p title="{% if false %}">{% endif %}" onclick="alert(1)">x</p>',
    "<{{ name }}>x</b>",
    "<td {{ name }}>x</td>",
    '<td on{{ name }}="alert(1)">x</td>',
    '{{ "}}" ~ "{# hidden" }}<script>alert(1)</script>{{ "#}" }}',
    "{% raw %}{{ <script>alert(1)</script> }}{% endraw %}",
    "{% filter replace('xn', 'on') %}<img src=/p.png xnerror=alert(1)>{% endfilter %}",
    '<noscript><p title="</noscript><img src=/p.png onerror=alert(1)>">x</p></noscript>',
    # Whitespace control, a skipped block or an empty value joining harmless pieces.
    '<table><tr><td o {%- if true -%} nclick="alert(1)" {% endif %}>c</td></tr></table>',
    "<!-- -{% if false %}x{% endif %}-><img src=/p.png onerror=alert(1)> -->",
    "<!-- -{{ name }}-><img src=/p.png onerror=alert(1)> -->",
    "<!-- -{{ name }}-!><img src=/p.png onerror=alert(1)> -->",
    "<style></sty{% if false %}x{% endif %}le><img src=/p.png onerror=alert(1)></style>",
    "<style>p { width: expr{% if true %}{% endif %}ession(alert(1)) }</style>",
]


def layout_with(fragment: str, head: str = "") -> str:
    return (
        f"<html><head>{head}</head><body>{{{{ content }}}}{fragment}"
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
    )


@pytest.mark.parametrize(("body_format", "body"), HOSTILE_BODIES)
@pytest.mark.parametrize("value", HOSTILE_VALUES[:4] + HOSTILE_VALUES[10:])
def test_no_body_and_no_value_puts_active_content_in_the_html(body_format, body, value):
    try:
        variant = compile_variant(body + ' <a href="{{ name }}">{{ name }}</a>', body_format)
    except RenderError as exc:
        assert str(exc)  # refused when saved, with a reason
        return
    html = variant.render({**sample_context("en"), "name": value}).html
    assert active_content(html) == [], html


@pytest.mark.parametrize("fragment", HOSTILE_LAYOUTS)
def test_a_layout_with_active_content_is_refused_or_inert(app, fragment):
    try:
        layout = layouts.save_template("Hostile", layout_with(fragment))
    except InvalidInput as refused:
        assert refused.field == "html" and str(refused)
        assert db.session.scalars(select(Template)).all() == []
        return
    # Saved only when what reaches a reader is inert (the HTML parser made it a plain path).
    html = compile_variant("x", "markdown", layout.html).render(sample_context("en")).html
    assert active_content(html) == [], html


def test_the_reasons_say_what_is_wrong(app):
    reasons = {}
    for fragment in HOSTILE_LAYOUTS[:4] + HOSTILE_LAYOUTS[18:26]:
        with pytest.raises(InvalidInput) as refused:
            layouts.check_layout(layout_with(fragment))
        reasons[fragment] = str(refused.value)
    assert "<script> is not allowed in an email" in reasons[HOSTILE_LAYOUTS[0]]
    assert "has onerror: event handlers are not allowed" in reasons[HOSTILE_LAYOUTS[1]]
    assert "is a script or data URL" in reasons[HOSTILE_LAYOUTS[3]]
    assert "must end there too" in reasons[HOSTILE_LAYOUTS[20]]
    placement = "a value can only be placed in text or inside a quoted attribute value"
    assert placement in reasons[HOSTILE_LAYOUTS[23]] and placement in reasons[HOSTILE_LAYOUTS[24]]


VALUE_LAYOUT = layout_with(
    '<a class="site" href="{{ attributes.site }}">{{ attributes.site }}</a>'
    '<a class="mail" href="mailto:{{ email }}">mail</a>'
    '<img class="photo" src="{{ attributes.photo }}" alt="{{ name }}" title="{{ name }} ok">'
    '<img class="set" srcset="{{ attributes.photo }} 2x, /small.png 1x" src="/p.png">'
    '<p class="tint" style="color: {{ attributes.colour }}">tint</p>'
    "<table><tr><td {% if dir == 'rtl' %}align=\"right\"{% endif %}>cell</td></tr></table>"
    '<!--[if mso]><v:roundrect href="{{ attributes.site }}"></v:roundrect><![endif]-->'
)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_subscriber_values_cannot_leave_their_attribute_or_bring_a_script_url(value):
    variant = compile_variant("Hi {{ name }}", "markdown", VALUE_LAYOUT)
    values = {"site": value, "photo": value, "colour": value}
    context = {**sample_context("en"), "name": value, "attributes": values}
    html = variant.render(context).html
    assert active_content(html) == [], html


def test_ordinary_values_arrive_unchanged():
    variant = compile_variant("Hi {{ name }}", "markdown", VALUE_LAYOUT)
    site = "https://example.org/a?b=1&c=2#top"
    context = {
        **sample_context("en"),
        "name": 'Olena "Kyiv" O\'Neil & co',
        "email": "olena@example.org",
        "attributes": {"site": site, "photo": "/img/olena.png", "colour": "#b3261e"},
    }
    html = variant.render(context).html
    reader = Elements()
    reader.feed(html)
    by_class = {dict(a).get("class"): dict(a) for _t, a in reader.found}
    assert by_class["site"]["href"] == site
    assert by_class["mail"]["href"] == "mailto:olena@example.org"
    assert by_class["photo"]["alt"] == 'Olena "Kyiv" O\'Neil & co'
    assert by_class["photo"]["title"] == 'Olena "Kyiv" O\'Neil & co ok'
    assert by_class["photo"]["src"] == "/img/olena.png"
    assert by_class["set"]["srcset"] == "/img/olena.png 2x, /small.png 1x"
    assert by_class["tint"]["style"] == "color: #b3261e"
    assert 'Hi Olena "Kyiv" O\'Neil &amp; co' in html.replace("&#34;", '"').replace("&#39;", "'")
    assert "<td >cell</td>" in html
    rtl = compile_variant("x", "markdown", VALUE_LAYOUT.replace("'rtl'", "'ltr'"))
    assert '<td  align="right" >cell</td>' in rtl.render(sample_context("en")).html


def test_a_refused_url_becomes_inert_and_the_rest_still_renders():
    variant = compile_variant('<a href="{{ name }}">go</a> <b>{{ name }}</b>', "html")
    html = variant.render({**sample_context("en"), "name": "javascript:alert(1)"}).html
    assert 'href="about:invalid#refused"' in html
    assert "<b>javascript:alert(1)</b>" in html


def test_default_layout_and_system_emails_keep_their_links():
    variant = compile_variant("[Yes, subscribe me]({{ unsubscribe_url }})", "markdown")
    context = {
        **sample_context("en"),
        "unsubscribe_url": "https://news.example.org/u/abc?x=1&y=2",
        "preferences_url": "https://news.example.org/p/abc",
    }
    html = variant.render(context).html
    assert html.count('href="https://news.example.org/u/abc?x=1&amp;y=2"') == 2
    assert 'href="https://news.example.org/p/abc"' in html
    assert '<html lang="en" dir="ltr">' in html


HOSTILE_ARCHIVE_BODY = (
    """<img alt="{{ {'a': 'b onerror=alert(1) x'}|xmlattr }}" src="/p.png">"""
    """<a href="{{ 'javascript:alert(2)' }}">x</a>"""
    """{% set x %}" onerror="alert(3){% endset %}<img src="/p.png" alt="{{ x }}">"""
    """{% macro m(u) %}<a href="{{ u }}">m</a>{% endmacro %}{{ m('javascript:alert(4)') }}"""
    """<a href="{{ 'data:text/html,<script>alert(5)</script>' }}">d</a>"""
)


def hostile_campaign(lists, **options):
    campaign = make_campaign({"en": "Hostile"}, lists=lists, **options)
    drafts.save_variant(
        campaign.id, "en", subject="Hostile", body=HOSTILE_ARCHIVE_BODY, body_format="html"
    )
    return campaign


def test_the_public_archive_shows_no_active_content(app):
    partners = make_list()
    make_subscriber("olena@example.org", lists=[partners])
    campaign = hostile_campaign([partners], archive=True)
    lifecycle.start_sending(campaign.id)
    page = app.test_client().get(f"/archive/{campaign.uid}/en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'alt=" a=&#34;b onerror=alert(1) x&#34;"' in html  # the text, harmless
    assert active_content(html) == [], html


def test_a_sent_message_has_no_active_content(app, run_worker, smtp):
    layout = layouts.save_template("Values", VALUE_LAYOUT)
    partners = make_list()
    for n, value in enumerate(HOSTILE_VALUES):
        subscriber = make_subscriber(f"reader{n}@example.org", lists=[partners], name=value)
        subscriber.attributes = {"site": value, "photo": value, "colour": value}
    db.session.commit()
    campaign = hostile_campaign([partners], template=layout)
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)
    assert len(smtp.messages) == len(HOSTILE_VALUES)
    for message in smtp.messages:
        html = message.get_body(("html",)).get_content()
        assert active_content(html) == [], html


def test_the_panel_refuses_such_a_layout_and_keeps_what_was_typed(app):
    from app.accounts import users
    from tests.support.panel import Client, flashed, text

    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = Client(app)
    html = layout_with('<a href="https://example.org" onclick="steal()">x</a>')
    refused = client.post("/templates/new", data={"name": "Hostile", "html": html})
    assert refused.status_code == 200
    assert any("has onclick: event handlers are not allowed" in m for m in flashed(refused))
    assert "steal()" in text(refused)  # the organiser's text is still in the form
    assert db.session.scalars(select(Template)).all() == []


def test_macros_set_blocks_and_style_blocks_keep_working():
    layout = (
        "<html><head><style>p { color: #111; }"
        "{% if dir == 'rtl' %} p { text-align: right; }{% endif %}</style></head><body>"
        '{% macro button(url, label) %}<a class="button" href="{{ url }}" '
        'style="color: #fff; background-color: #b3261e">{{ label }}</a>{% endmacro %}'
        "{{ content }}{{ button(unsubscribe_url, unsubscribe_label) }}"
        "{% set note %}<em>{{ footer_reason }}</em>{% endset %}<p>{{ note }}</p>"
        "</body></html>"
    )
    context = {
        **sample_context("en"),
        "unsubscribe_url": "https://news.example.org/u/abc",
        "unsubscribe_label": "Leave <now>",
        "footer_reason": "You signed up",
    }
    html = compile_variant("Hi", "markdown", layout).render(context).html
    assert (
        '<a class="button" href="https://news.example.org/u/abc" '
        'style="color:#fff;background-color:#b3261e">Leave &lt;now&gt;</a>'
    ) in html
    assert '<p style="color:#111"><em>You signed up</em></p>' in html
    assert "text-align: right" not in html
    arabic = CompiledVariant(layout, VariantSource("ar", "S", "P", "x"), text_footer())
    assert "text-align: right" in arabic.render(context).html
