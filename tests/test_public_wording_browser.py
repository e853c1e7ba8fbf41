"""The preference centre in a real browser: Save looks like the action it is, and the
destructive buttons (leave every list, erase me) look different and are marked."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page

from app.tokens import tokens
from tests.support.factories import make_list, make_subscriber

pytestmark = pytest.mark.slow

STYLE = "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.color]; }"
MARK = "e => getComputedStyle(e, '::before').content"


def test_save_and_the_destructive_buttons_look_different(app: Flask, page: Page) -> None:
    partners = make_list("partners", "Partner collectives")
    olena = make_subscriber("olena@example.org", language="uk", lists=[partners])
    page.goto(f"/p/{tokens().preferences(olena.uid)}")
    save = page.locator("#save").evaluate(STYLE)
    erase = page.locator("#erase").evaluate(STYLE)
    leave = page.locator("#leave").evaluate(STYLE)
    assert save[0] != erase[0], (save, erase)
    assert erase == leave
    assert page.locator("#save").evaluate(MARK) == "none"
    assert "⚠" in page.locator("#erase").evaluate(MARK)
