"""Organiser-written templates run in a sandbox: injection attempts fail loudly, run nothing."""

from __future__ import annotations

import socket
import threading

import pytest

from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from emails.errors import RenderError
from emails.rendering import CompiledVariant, VariantSource


def compile_and_render(body: str, *, subject: str = "Hello", body_format: str = "markdown"):
    source = VariantSource("en", subject, "", body, body_format)
    variant = CompiledVariant(DEFAULT_LAYOUT, source, text_footer())
    return variant.render({**sample_context("en"), "name": "Ann"})


ATTACKS = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "format": '{{ "{0.__class__}".format(name) }}',
    "attr-format": "{{ ('{0.__class__}' | attr('format'))(name) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': name}) }}",
    "lipsum": "{{ lipsum.__globals__ }}",
    "config": "{{ config }}",
    "config-items": "{{ config.items() }}",
    "request": "{{ request.environ }}",
    "self": "{{ self.__init__.__globals__ }}",
    "include": "{% include 'x.html' %}",
    "import": "{% import 'x.html' as x %}",
    "extends": "{% extends 'base.html' %}",
    "range": "{{ range(10 ** 9) | list }}",
    "cycler": "{{ cycler.__init__.__globals__.os }}",
    "string-times": "{{ 'x' * 100000000 }}",
    "list-times": "{{ [0] * 100000000 }}",
    "nested-loops": "{% for a in [0] * 99999 %}{% for b in [0] * 99999 %}{% endfor %}{% endfor %}",
    "recursive-macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "center": "{{ 'x' | center(100000000) }}",
    "mutate": "{{ attributes.update({'a': 1}) }}",
    "slice-list": "{{ 'x' | slice(10 ** 7) | list }}",
    "ljust": "{{ 'a'.ljust(10 ** 9) }}",
    "format-width": "{{ '{:>100000000}'.format(1) }}",
    "printf-width": "{{ '%0100000000d' % 1 }}",
    "concat-doubling": "{% set x = 'ab' %}" + "{% set x = x ~ x %}" * 30,
    "method-repr": "{{ attributes.items }}",
    "attr-format-repr": "{{ email | attr('format') }}",
    "globals-of-filter": "{{ (name | attr('__class__')) }}",
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
@pytest.mark.parametrize("where", ["body", "subject"])
def test_template_injection_is_refused_with_a_clear_error(attack, where):
    with pytest.raises(RenderError) as caught:
        if where == "body":
            compile_and_render(attack)
        else:
            compile_and_render("Hi", subject=attack)
    message = str(caught.value)
    assert message and "Traceback" not in message
    assert "<class" not in message and "built-in" not in message  # nothing leaked


def test_unknown_values_name_what_is_available_and_where():
    with pytest.raises(RenderError, match=r"unknown value nmae; available: .*name.*\(line 3\)"):
        compile_and_render("Hi,\n\n{{ nmae }}")


def test_every_documented_value_is_available():
    body = (
        "{{ name }} {{ group | default('') }} {{ country | default('') }} {{ language }} "
        "{{ email }} {{ attributes.get('city', 'somewhere') }} {{ campaign }} "
        "[p]({{ preferences_url }}) [r]({{ report_url }}) [a]({{ archive_url }}) "
        "[u]({{ unsubscribe_url }})"
    )
    rendered = compile_and_render(body)
    assert "https://example.invalid/r/sample" in rendered.html
    assert "https://example.invalid/p/sample" in rendered.text


class Listener:
    """A TCP server that records every connection made to it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def test_stylesheets_and_imports_are_never_fetched():
    listener = Listener()
    try:
        port = listener.port
        layout = DEFAULT_LAYOUT.replace(
            "<style>",
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'
            f"<style>@import url(http://127.0.0.1:{port}/y.css);\n"
            f"@import 'http://127.0.0.1:{port}/z.css';\n",
        )
        body = (
            f'<link rel=stylesheet href="http://127.0.0.1:{port}/b.css">'
            f"<style>@import url(http://127.0.0.1:{port}/c.css);</style><p>Hi</p>"
        )
        source = VariantSource("en", "Hello", "", body, "html")
        rendered = CompiledVariant(layout, source, text_footer()).render(sample_context("en"))
    finally:
        listener.close()
    assert listener.connections == 0
    assert f"127.0.0.1:{port}" not in rendered.html
