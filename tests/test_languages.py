"""Which variant a subscriber gets: exact, primary, explicit chain, default; nothing implicit."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.languages import choose_variant, fallback_chain, normalize_tag

AVAILABLE = ["en", "uk", "es", "pt", "ru"]


@pytest.mark.parametrize(
    ("language", "fallbacks", "expected"),
    [
        ("uk", [], "uk"),
        ("pt-BR", [], "pt"),
        ("es-AR", [], "es"),
        ("pl", [], "en"),
        ("be", [], "en"),  # never an implicit jump to a neighbouring language
        ("be", ["uk"], "uk"),
        ("ca", ["es", "en"], "es"),
    ],
)
def test_choose_variant_follows_the_written_rule(language, fallbacks, expected):
    assert choose_variant(language, AVAILABLE, fallbacks, "en") == expected


def test_ukrainian_never_falls_back_to_russian_unless_the_chain_says_so():
    assert choose_variant("uk", ["en", "ru"], [], "en") == "en"
    assert choose_variant("uk", ["en", "ru"], ["ru"], "en") == "ru"


def test_no_variant_at_all_gives_none():
    assert choose_variant("uk", ["fr"], [], "en") is None


@pytest.mark.parametrize(("raw", "tag"), [("pt-br", "pt-BR"), ("UK", "uk"), ("zh_hant", "zh-Hant")])
def test_tags_are_normalised(raw, tag):
    assert normalize_tag(raw) == tag


@pytest.mark.parametrize("bad", ["", "english!", "e", "uk\r\nBcc: x", "123"])
def test_malformed_tags_are_refused_with_a_clear_message(bad):
    with pytest.raises(InvalidInput, match="is not a language tag"):
        normalize_tag(bad)


def test_the_fallback_chain_lists_each_language_once_in_the_written_order():
    assert fallback_chain("pt-BR", "es-MX", default="en") == ["pt-BR", "pt", "es-MX", "es", "en"]
    assert fallback_chain("pt-BR", "es-MX", default="en", then_primaries=False) == [
        "pt-BR",
        "pt",
        "es-MX",
        "en",
    ]
    assert fallback_chain("en-GB", None, "", default="en") == ["en-GB", "en"]
    assert fallback_chain(None, "uk") == ["uk"]
