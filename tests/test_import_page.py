"""The import pages in a real browser: the error bar, the column mapping and its samples."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import Page, expect

from app.audience import imports
from app.extensions import db
from app.models import ImportStatus
from tests.support.factories import make_list

pytestmark = pytest.mark.slow

CAIRO, ALEXANDRIA = "القاهرة الكبرى", "الإسكندرية"
CSV = (
    "email,city,name\n"
    f"ann@example.org,{CAIRO},Ann\n"
    f"olena@example.org,{ALEXANDRIA},Olena\n"
    "lucia@example.org,Madrid,Lucía\n"
).encode()
CSV_COLUMNS = ("email", "city", "name")


def _upload() -> int:
    partners = make_list("partners", "Partner collectives")
    return imports.upload(io.BytesIO(CSV), "people.csv", partners.id, "subscribe").id


def test_no_error_bar_without_an_error(owner_page: Page) -> None:  # noqa: F811
    page = owner_page
    page.set_viewport_size({"width": 1280, "height": 800})
    job_id = _upload()
    page.goto(f"/imports/{job_id}")
    expect(page.locator("h1")).to_contain_text("people.csv")
    expect(page.locator("#error")).to_be_hidden()
    assert page.locator(".flash.error:visible").count() == 0

    job = imports.get(job_id)
    job.status, job.error = ImportStatus.FAILED, "the file went missing"
    db.session.commit()
    page.goto(f"/imports/{job_id}")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_have_text("the file went missing")


def test_mapping_shows_the_attribute_name_only_for_an_attribute(owner_page: Page) -> None:  # noqa: F811
    page = owner_page
    page.set_viewport_size({"width": 1280, "height": 800})
    job_id = _upload()
    page.goto(f"/imports/{job_id}/mapping")
    names = {column: page.get_by_label(f"Attribute name for {column}") for column in CSV_COLUMNS}
    for box in names.values():
        expect(box).to_be_hidden()
    city = page.get_by_label("What city holds")
    city.select_option("attribute")
    expect(names["city"]).to_be_visible()
    expect(names["city"]).to_have_value("city")
    expect(names["email"]).to_be_hidden()
    city.select_option("ignore")
    expect(names["city"]).to_be_hidden()

    city.select_option("attribute")
    names["city"].fill("town")
    page.get_by_role("button", name="Start the import").click()
    expect(page.locator("h1")).to_contain_text("Import of people.csv")
    assert imports.get(job_id).mapping["city"] == "attribute:town"


def test_samples_are_one_a_line_each_in_its_own_order(owner_page: Page) -> None:  # noqa: F811
    page = owner_page
    page.set_viewport_size({"width": 1280, "height": 800})
    job_id = _upload()
    page.goto(f"/imports/{job_id}/mapping")
    row = page.locator("tr", has=page.get_by_label("What city holds"))
    cairo = row.get_by_text(CAIRO, exact=True)
    alexandria = row.get_by_text(ALEXANDRIA, exact=True)
    madrid = row.get_by_text("Madrid", exact=True)
    boxes = [item.bounding_box() for item in (cairo, alexandria, madrid)]
    assert all(boxes)
    tops = [box["y"] for box in boxes if box]
    heights = [box["height"] for box in boxes if box]
    # One a line, in the file's order: each sample starts below the one before.
    assert tops[0] + heights[0] <= tops[1] + 1
    assert tops[1] + heights[1] <= tops[2] + 1
    # Each sample keeps its own direction: the Arabic ones read right to left.
    directions = [
        item.evaluate("e => getComputedStyle(e).direction") for item in (cairo, alexandria, madrid)
    ]
    assert directions == ["rtl", "rtl", "ltr"]
