"""Templates cannot exhaust memory or time, nor print functions: every way a value can grow
is bounded before it is built, and the refusal names the line the organiser wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.campaigns import drafts, lifecycle
from app.errors import InvalidInput
from app.extensions import db
from app.messages import layouts, system_emails
from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from app.messages.system_emails import Kind
from app.models import Delivery, DeliveryStatus, Subscriber, Variant
from emails.errors import RenderError
from emails.rendering import CompiledVariant, VariantSource
from emails.sandbox import SafeTemplate
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.smtp import recipients

ROOT = Path(__file__).resolve().parent.parent

DOUBLINGS = 30  # enough to reach a gigabyte if nothing stopped it

# Each would allocate hundreds of megabytes to gigabytes, or run for minutes, unbounded.
PAYLOADS = {
    # padding widths, through methods and filters
    "slice-list": "{{ 'x' | slice(10 ** 7) | list }}",
    "ljust": "{{ 'a'.ljust(10 ** 9) }}",
    "rjust": "{{ name.rjust(10 ** 9) }}",
    "center-method": "{{ 'a'.center(10 ** 9) }}",
    "center-filter": "{{ 'a' | center(10 ** 9) }}",
    "zfill": "{{ '1'.zfill(10 ** 9) }}",
    "bytes-ljust": "{{ 'a'.encode().ljust(10 ** 9) }}",
    "expandtabs": "{{ ('\\t' * 1000).expandtabs(10 ** 6) }}",
    "indent-string": "{{ ('\\n' * 50000) | indent('x' * 100000) }}",
    "wordwrap": "{{ ('a ' * 50000) | wordwrap(1, wrapstring='x' * 100000) }}",
    # str.format, with nested fields, and printf
    "format-width": "{{ '{:>100000000}'.format(1) }}",
    "format-nested-width": "{{ '{:{w}}'.format(1, w=10 ** 8) }}",
    "format-precision": "{{ '{:.100000000f}'.format(1.5) }}",
    "format-map": "{{ '{x:>100000000}'.format_map({'x': 1}) }}",
    "format-attr": "{{ ('{:>100000000}' | attr('format'))(1) }}",
    "format-repeated-field": "{{ ('{0}' * 30000).format('x' * 100000) }}",
    "printf-width": "{{ '%0100000000d' % 1 }}",
    "printf-precision": "{{ '%.100000000f' % 1.5 }}",
    "printf-star": "{{ '%*d' % (100000000, 1) }}",
    "printf-repeated-key": "{{ '%(a)s' * 20000 % {'a': 'x' * 100000} }}",
    "format-filter": "{{ '%0100000000d' | format(1) }}",
    # replace, join, translate
    "replace-chained": "{% set s = 'a' * 1000 %}{{ s.replace('a', s).replace('a', s) }}",
    "replace-filter": "{% set s = 'a' * 1000 %}{{ s | replace('a', s) | replace('a', s) }}",
    "join-long-separator": "{{ ('x' * 100000).join(['a'] * 30000) }}",
    "join-filter-separator": "{{ (['a'] * 30000) | join('x' * 100000) }}",
    "translate": "{{ ('a' * 1000).translate({97: 'x' * 100000}) }}",
    # doubling: concatenation, +, captured blocks, macros, filter blocks
    "concat-doubling": "{% set x = 'ab' %}" + "{% set x = x ~ x %}" * DOUBLINGS,
    "plus-doubling": "{% set x = 'ab' %}" + "{% set x = x + x %}" * DOUBLINGS,
    "list-doubling": "{% set x = [0] %}" + "{% set x = x + x %}" * DOUBLINGS,
    "set-block-doubling": "{% set x = 'ab' %}"
    + "{% set x %}{{ x }}{{ x }}{% endset %}" * DOUBLINGS,
    "macro-doubling": "{% macro d(x) %}{{ x }}{{ x }}{% endmacro %}{% set x = 'ab' %}"
    + "{% set x = d(x) %}" * DOUBLINGS,
    "filter-block-doubling": "{% set x = 'ab' %}"
    + "{% set x %}{% filter upper %}{{ x }}{{ x }}{% endfilter %}{% endset %}" * DOUBLINGS,
    "loop-into-block": "{% set s = 'x' * 100000 %}{% set t %}"
    "{% for i in [0] * 20000 %}{{ s }}{% endfor %}{% endset %}",
    # lists and dicts that share a big value many times
    "batch-fill": "{{ 'x' | batch(10 ** 9, 'y') | list }}",
    "shared-list": "{% set s = 'x' * 100000 %}{{ [s] * 100000 }}",
    "shared-literal": "{% set s = 'x' * 100000 %}{{ [s, s, s, s, s, s, s, s, s, s] }}",
    "nested-literal": "{% set l = [1] %}" + "{% set l = [l, l] %}" * 40 + "{{ l == l }}",
    "sum-of-lists": "{{ ([[1]] * 30000) | sum(start=[]) }}",
    # numbers
    "power-tower": "{% set x = 10 ** 100 %}{% set x = x ** 100 %}{% set x = x ** 100 %}",
    "squaring": "{% set x = 3 %}" + "{% set x = x * x %}" * 40,
    "to-bytes": "{{ (1).to_bytes(10 ** 9, 'big') }}",
    "round-floor": "{{ 1 | round(-10 ** 9, 'floor') }}",
    "tojson-indent": "{{ [1, 2] | tojson(10 ** 8) }}",
    # time
    "exponential-macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "join-attribute-separator": "{{ ([{'a': 1}] * 10000) | join('x' * 1000, attribute='a') }}",
    "slow-filters": "{% set s = 'a ' * 40000 %}" + "{{ s | wordwrap(79) | length }}" * 100,
}

# Printing any of these would show a memory address (or a function's name at best).
FUNCTION_PRINTS = {
    "method": "{{ attributes.items }}",
    "attr-format": "{{ email | attr('format') }}",
    "concat": "{{ email.upper ~ '' }}",
    "format-arg": "{{ '{}'.format(email.upper) }}",
    "printf-arg": "{{ '%s' % email.upper }}",
    "string-filter": "{{ email.upper | string }}",
    "escape-filter": "{{ email.upper | e }}",
    "in-a-list": "{{ [email.upper] }}",
    "joined": "{{ [email.upper] | join }}",
    "pprint": "{{ email.upper | pprint }}",
    "xmlattr": "{{ {'a': email.upper} | xmlattr }}",
    "generator": "{{ email | slice(2) }}",
    "set-then-print": "{% set f = email.title %}{{ f }}",
    "format-field": "{{ '{0.upper}'.format(email) }}",
}


def body_with(payload: str) -> str:
    """The payload on line 3 of an otherwise ordinary body."""
    return f"Hello {{{{ name }}}},\n\n{payload}\n\nSee you soon."


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_template_that_would_grow_without_bound_is_refused_at_save_naming_its_line(app, payload):
    campaign = make_campaign({"en": ("Hello", "The text before")})
    # The processor time this process spent: refused before the work could grow, however
    # busy the machine is (the wall clock also counts other processes' turns).
    started = time.process_time()
    with pytest.raises(InvalidInput) as refused:
        drafts.save_variant(campaign.id, "en", subject="Hello", body=body_with(payload))
    elapsed = time.process_time() - started
    message = str(refused.value)
    assert elapsed < 2.0, f"took {elapsed:.1f}s of processor time"
    assert message.startswith("body: ") and message.endswith("(line 3)"), message
    assert "0x" not in message and "Traceback" not in message
    db.session.expire_all()
    kept = db.session.scalars(select(Variant).where(Variant.campaign_id == campaign.id)).one()
    assert kept.body == "The text before"  # nothing lost


@pytest.mark.parametrize("payload", FUNCTION_PRINTS.values(), ids=FUNCTION_PRINTS.keys())
def test_printing_a_function_is_refused_like_an_unavailable_name(app, payload):
    campaign = make_campaign({"en": "Hello"})
    with pytest.raises(InvalidInput) as refused:
        drafts.save_variant(campaign.id, "en", subject="Hello", body=body_with(payload))
    message = str(refused.value)
    assert "cannot be printed" in message and message.endswith("(line 3)"), message
    assert "0x" not in message and "<" not in message


def test_what_data_templates_do_still_renders():
    body = textwrap.dedent(
        """\
        {{ name | center(11) }}|{{ name.ljust(5, '.') }}|{{ '7'.zfill(3) }}
        {{ '{:>6}|{:.2f}|{n}'.format(name, 3.14159, n=name) }}|{{ '%05d|%.1f' % (42, 2.25) }}
        {{ ', '.join(['a', 'b']) }}|{{ [1, 2, 3] | join('-') }}|{{ 'a~b' | replace('~', '--') }}
        {{ [1, 2, 3, 4, 5] | batch(2, 0) | list }}|{{ 'abcd' | slice(2) | list }}
        {% set x %}{{ name }}!{% endset %}{% macro m(v) %}<{{ v }}>{% endmacro %}{{ x ~ m(1) }}
        {{ [1, 2] + [3] }}|{{ 'a' + 'b' }}|{{ 2 ** 10 }}|{{ 3 * 'ab' }}|{{ 7 % 3 }}
        {{ attributes.items() | list }}|{{ email.upper() }}|{{ attributes | tojson }}
        {{ 3.14159 | round(2) }}|{{ 'x' | indent(2, first=True) }}|{{ {'a': [1, 2]} }}
        {% for key, value in {'k': 'v'}.items() %}{{ loop.index }}{{ key }}={{ value }}{% endfor %}
        """
    )
    context = {**sample_context("en"), "name": "Ann", "attributes": {"city": "Lviv"}}
    text = SafeTemplate(body, html=False, what="body").render(context)
    assert text.splitlines() == [
        "    Ann    |Ann..|007",
        "   Ann|3.14|Ann|00042|2.2",
        "a, b|1-2-3|a--b",
        "[[1, 2], [3, 4], [5, 0]]|[['a', 'b'], ['c', 'd']]",
        "Ann!<1>",
        "[1, 2, 3]|ab|1024|ababab|1",
        f"[('city', 'Lviv')]|{context['email'].upper()}|{{\"city\": \"Lviv\"}}",
        "3.14|  x|{'a': [1, 2]}",
        "1k=v",
    ]


def test_a_limit_inside_a_macro_names_the_macro_line():
    body = "{% macro pad(v) %}\n{{ v.ljust(10 ** 9) }}\n{% endmacro %}\n\n{{ pad(name) }}"
    with pytest.raises(RenderError) as refused:
        SafeTemplate(body, html=False, what="body").render({"name": "Ann"})
    assert refused.value.line == 2 and "ljust width over 1000" in str(refused.value)


def test_a_layout_and_a_system_email_are_refused_at_their_own_lines(app):
    layout = DEFAULT_LAYOUT.replace("{{ content }}", "{{ content }}\n{{ 'a'.zfill(10 ** 9) }}")
    content_line = DEFAULT_LAYOUT[: DEFAULT_LAYOUT.index("{{ content }}")].count("\n") + 1
    with pytest.raises(InvalidInput, match=rf"^layout: .*zfill.*\(line {content_line + 1}\)$"):
        layouts.save_template("Padded", layout)
    with pytest.raises(InvalidInput, match=r"^body: .*format width.*\(line 2\)$"):
        system_emails.save(Kind.GOODBYE, "en", "Bye", "Bye {{ name }}\n{{ '{:>99999}'.format(1) }}")
    assert layouts.all_templates() == []


# The table, rendered as a save renders it, in a fresh process: its peak memory is its own.
_MEMORY_SCRIPT = """
import json, resource, sys
from app.messages.composing import DEFAULT_LAYOUT, sample_context, text_footer
from emails.errors import RenderError
from emails.rendering import CompiledVariant, VariantSource
from emails.sandbox import where_written
from emails.rendering import CONTEXT_NAMES
payloads = json.loads(sys.stdin.read())
sample = sample_context("en")
def save(body):
    source = VariantSource("en", "Hello", "", body)
    try:
        CompiledVariant(DEFAULT_LAYOUT, source, text_footer()).render(sample)
    except RenderError as exc:
        raise where_written(exc, {"body": body}, sample, CONTEXT_NAMES)
save("Hello {{ name }}")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = 0
for payload in payloads:
    try:
        save(payload)
    except RenderError:
        refused += 1
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"refused": refused, "grown_kb": after - before}))
"""


def test_refusing_the_whole_table_grows_memory_by_less_than_50_mb():
    payloads = [body_with(p) for p in (*PAYLOADS.values(), *FUNCTION_PRINTS.values())]
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["refused"] == len(payloads)
    assert result["grown_kb"] < 50 * 1024, f"grew {result['grown_kb'] / 1024:.0f} MB"


@pytest.mark.slow
def test_a_recipient_whose_values_blow_the_limit_fails_alone_and_the_worker_lives(
    app, run_worker, smtp
):
    partners = make_list("partners", "Partners")
    people = ["a@example.org", "wide@example.org", "c@example.org", "d@example.org"]
    for email in people:
        make_subscriber(email, lists=[partners])
    wide = db.session.scalars(
        select(Subscriber).where(Subscriber.email == "wide@example.org")
    ).one()
    wide.attributes = {"width": "1000000000"}
    for email in ("a@example.org", "c@example.org"):
        db.session.scalars(select(Subscriber).where(Subscriber.email == email)).one().attributes = {
            "width": "12"
        }
    db.session.commit()
    # Fine for the sample recipient (no width: 0) and for every real one but one.
    body = "Hello,\n\n[{{ 'a'.ljust(attributes.width | default(0) | int) }}]"
    campaign = make_campaign({"en": ("Padded", body)}, lists=[partners])
    lifecycle.start_sending(campaign.id)
    run_worker.until_sent(campaign.id)

    db.session.expire_all()
    emails = dict(db.session.execute(select(Subscriber.id, Subscriber.email)).all())
    rows = {
        emails[row.subscriber_id]: row
        for row in db.session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id))
    }
    assert rows["wide@example.org"].status == DeliveryStatus.FAILED_PERM
    # (at send time the line is the composed message's: the body sits inside the layout)
    assert rows["wide@example.org"].smtp_reply.startswith("template: body: not allowed: the ljust")
    assert {e for e, r in rows.items() if r.status == DeliveryStatus.SENT} == {
        "a@example.org",
        "c@example.org",
        "d@example.org",
    }
    assert sorted(recipients(smtp.messages)) == ["a@example.org", "c@example.org", "d@example.org"]
    run_worker.check_alive()


def test_compiling_a_variant_for_sending_keeps_the_limits():
    source = VariantSource("en", "Hi", "", "Hi\n\n{{ 'a'.ljust(attributes.width | int) }}")
    variant = CompiledVariant(DEFAULT_LAYOUT, source, text_footer())
    assert "a" in variant.render({**sample_context("en"), "attributes": {"width": "5"}}).text
    with pytest.raises(RenderError, match="ljust width over 1000"):
        variant.render({**sample_context("en"), "attributes": {"width": "100000000"}})
