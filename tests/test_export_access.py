"""Viewers see counts, not addresses: exports, import reports and an import's sample values
need an editor or owner; every export is written to the audit log, from the panel and from
the command line."""

from __future__ import annotations

import io
import logging

import pytest

from app.audience import exports, imports
from tests.support.factories import make_list, make_subscriber
from tests.support.imports import run_import
from tests.support.panel import signed_in

CSV = b"email,name\nann@example.org,Ann\nnot-an-address,Bob\n"


@pytest.fixture()
def people(app):
    partners = make_list("partners", "Partners")
    make_subscriber("olena@example.org", lists=[partners], name="Olena")
    return partners


def test_a_viewer_gets_403_for_everything_that_shows_addresses(app, people):
    done = run_import(CSV, people)
    waiting = imports.upload(io.BytesIO(CSV), "more.csv", people.id, "subscribe")
    client = signed_in(app, "viewer")
    for path in (
        "/exports",
        "/exports/subscribers.csv",
        f"/exports/subscribers.csv?list={people.id}",
        f"/imports/{done.id}/report",
        f"/imports/{waiting.id}/mapping",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"@example.org" not in response.get_data(), path
    page = client.get(f"/imports/{done.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "1</span> imported" in text and "1</span> rejected" in text  # counts, yes
    assert "not-an-address" not in text and "/report" not in text
    assert "for editors and owners" in text
    assert client.get(f"/imports/{done.id}/progress").json["rejected"] == 1
    assert 'href="/exports"' not in text and 'href="/catcher"' not in text  # not offered


@pytest.mark.parametrize("role", ["editor", "owner"])
def test_editors_and_owners_download_and_each_export_is_audited(app, people, role, caplog):
    done = run_import(CSV, people)
    client = signed_in(app, role)
    with client.get(f"/imports/{done.id}/report") as report:
        assert b"not-an-address" in report.get_data()
    menu = client.get("/campaigns").get_data(as_text=True)
    assert 'href="/exports"' in menu and 'href="/catcher"' in menu
    with caplog.at_level(logging.INFO, logger="tocsin.audit"):
        data = client.get(f"/exports/subscribers.csv?list={people.id}&status=active").get_data()
    assert data.count(b"@example.org") == 2
    [line] = [r.getMessage() for r in caplog.records if r.name == "tocsin.audit"]
    assert f"by={role}@example.org via=panel" in line
    assert f"filter=[list={people.id} status=active] rows=2" in line
    assert "started=20" in line and "stopped" not in line
    assert "olena@example.org" not in line and "ann@example.org" not in line


def test_a_download_stopped_half_way_is_audited_with_what_went_out(app, people, caplog):
    for number in range(exports.PIECE_ROWS + 5):
        make_subscriber(f"member{number}@example.org", lists=[])
    pieces = exports.stream(exports.check_filter(), by="editor@example.org", via="panel")
    with caplog.at_level(logging.INFO, logger="tocsin.audit"):
        next(pieces)
        next(pieces)
        pieces.close()  # what the server does when the browser goes away
    [line] = [r.getMessage() for r in caplog.records if r.name == "tocsin.audit"]
    assert "filter=[everyone]" in line
    assert f"rows={exports.PIECE_ROWS} (stopped before the end)" in line


def test_the_command_line_export_is_audited(app, people, caplog):
    runner = app.test_cli_runner()
    with caplog.at_level(logging.INFO, logger="tocsin.audit"):
        result = runner.invoke(args=["subscribers", "export", "--list", "partners"])
    assert result.exit_code == 0 and "olena@example.org" in result.output
    [line] = [r.getMessage() for r in caplog.records if r.name == "tocsin.audit"]
    assert "via=command line" in line and "by=unknown" not in line
    assert f"filter=[list={people.id}] rows=1" in line
