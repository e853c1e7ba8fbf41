"""Rendering a variant: once per language, then per recipient (no app, plain strings)."""

from __future__ import annotations

import pytest
from markupsafe import escape

from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from emails.errors import RenderError
from emails.rendering import CompiledVariant, VariantSource


def compile_variant(
    body: str,
    language: str = "en",
    subject: str = "Hello",
    layout: str = DEFAULT_LAYOUT,
    body_format: str = "markdown",
) -> CompiledVariant:
    source = VariantSource(language, subject, "Preview text", body, body_format)
    return CompiledVariant(layout, source, text_footer())


def test_markdown_body_is_wrapped_inlined_and_personalised():
    variant = compile_variant("Dear {{ name | default('friends') }},\n\nJoin **us**.")
    rendered = variant.render({**sample_context("en"), "name": "Kyiv Mutual Aid"})
    assert '<html lang="en" dir="ltr">' in rendered.html
    assert "<p" in rendered.html and "Dear Kyiv Mutual Aid," in rendered.html
    assert 'class="content" style="padding:28px 32px"' in rendered.html
    assert "Dear Kyiv Mutual Aid," in rendered.text and "Join **us**." in rendered.text


def test_missing_name_uses_the_default_written_in_the_template():
    rendered = compile_variant("Hi {{ name | default('friends') }}!").render(sample_context("en"))
    assert "Hi friends!" in rendered.html and "Hi friends!" in rendered.text


def test_recipient_values_land_intact_in_attributes_after_inlining():
    layout = (
        "<html><head><style>a { color: red; }</style></head><body>{{ content }}"
        '<a class="x" href="{{ unsubscribe_url }}">out</a>'
        '<img alt="{{ name }}" src="https://example.org/p.png"></body></html>'
    )
    variant = compile_variant("Body", layout=layout)
    url = 'https://news.example.org/u/a b?x=1&y="2"'
    rendered = variant.render({**sample_context("en"), "unsubscribe_url": url, "name": 'O"Brien'})
    assert f'href="{escape(url)}"' in rendered.html
    assert 'alt="O&#34;Brien"' in rendered.html
    assert 'style="color:red"' in rendered.html


def test_recipient_values_are_escaped_in_html_but_not_in_text():
    context = {**sample_context("en"), "name": "<b>A&B</b>"}
    rendered = compile_variant("Hi {{ name }}").render(context)
    assert "Hi &lt;b&gt;A&amp;B&lt;/b&gt;" in rendered.html
    assert "Hi <b>A&B</b>" in rendered.text


def test_right_to_left_language_gets_dir_rtl():
    rendered = compile_variant("مرحبا", language="ar").render(sample_context("ar"))
    assert '<html lang="ar" dir="rtl">' in rendered.html


def test_html_body_is_sanitised():
    body = (
        '<p onclick="x()">Hi</p><script>alert(1)</script><a href="javascript:alert(1)">x</a>'
        '<iframe src="https://evil.example"></iframe><form action="/x"><input name="a"></form>'
        '<img src="x" onerror="alert(1)"><a href="JaVaScRiPt:alert(2)">y</a>'
        '<svg><script>alert(3)</script></svg><object data="x"></object>'
    )
    rendered = compile_variant(body, body_format="html").render(sample_context("en"))
    lowered = rendered.html.lower()
    for banned in ("<script", "onclick", "onerror", "javascript:", "<iframe", "<form", "<input"):
        assert banned not in lowered, banned
    assert "<object" not in lowered and "<svg" not in lowered


def test_subject_is_one_line_even_when_the_template_adds_newlines():
    variant = compile_variant("Body", subject="Hello\r\n{{ name }}\nBcc: x@example.org")
    rendered = variant.render({**sample_context("en"), "name": "Ann"})
    assert rendered.subject == "Hello Ann Bcc: x@example.org"


def test_syntax_error_is_reported_with_its_line():
    with pytest.raises(RenderError, match="line 2"):
        compile_variant("Fine\n{% if %}")


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__ }}",
        "{{ attributes.update({'a': 1}) }}",
        "{{ '{0.__class__}'.format(name) }}",
    ],
)
def test_sandbox_refuses_reaching_into_python(attack):
    variant = compile_variant(attack)
    with pytest.raises(RenderError):
        variant.render({**sample_context("en"), "name": "Ann"})


def test_layout_without_a_content_slot_is_refused():
    with pytest.raises(RenderError, match="content"):
        compile_variant("Body", layout="<html><body>no slot</body></html>")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ '<script>x</script>' | safe }}", "safe"),
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "autoescape blocks"),
        ("{{ 'x' * 10000000 }}", "repeating a value"),
        ("{{ [1] * 10000000 }}", "repeating a value"),
        ("{{ 9 ** 9999999 }}", "exponents"),
    ],
)
def test_unsafe_html_and_huge_values_are_refused(body, message):
    with pytest.raises(RenderError, match=message):
        compile_variant(body, body_format="html").render(sample_context("en"))
