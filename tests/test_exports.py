"""CSV export (service, CLI, panel) and the import's command and pages."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select, update

from app.audience import exports, imports
from app.audience.subscribers import anonymised_values
from app.extensions import db
from app.models import ImportJob, ImportStatus, Subscriber
from tests.support.factories import make_list, make_subscriber
from tests.support.imports import run_import
from tests.support.panel import text


def parse(content: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content)))


def export_text(**filters: str) -> str:
    return "".join(exports.stream(exports.check_filter(**filters)))


def test_export_neutralises_every_cell_that_starts_like_a_formula(app):
    partners = make_list()
    names = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "tab", "cr", "Plain"]
    content = "email,name\n" + "".join(f"p{n}@example.org,{v}\n" for n, v in enumerate(names))
    run_import(content.encode(), partners)
    # Imports strip surrounding white space; a tab or CR can still come from elsewhere.
    for old, new in (("tab", "\tTab"), ("cr", "\rCR")):
        db.session.execute(update(Subscriber).where(Subscriber.name == old).values(name=new))
    db.session.commit()
    rows = parse(export_text(list_slug=partners.slug))
    assert [r["name"] for r in rows] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tTab",
        "'\rCR",
        "Plain",
    ]
    assert {r["subscription"] for r in rows} == {"confirmed"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0]["created_at"])


def test_an_export_imports_back_into_the_same_subscribers(app):
    partners, copy = make_list(), make_list()
    content = b'email,name,city\na@example.org,"=HYPERLINK(""x"")",Kyiv\nb@example.org,-Bob,\n'
    run_import(content, partners, mapping={"city": "attribute:city"})
    exported = export_text(list_slug=partners.slug).encode()
    run_import(exported, copy)
    people = {s.email: s for s in db.session.scalars(select(Subscriber))}
    assert people["a@example.org"].name == '=HYPERLINK("x")'
    assert people["a@example.org"].attributes == {"city": "Kyiv"}
    assert people["b@example.org"].name == "-Bob"
    assert len(parse(export_text(list_slug=copy.slug))) == 2


def test_export_filters_by_list_language_and_status(app):
    partners, others = make_list(), make_list()
    make_subscriber("uk@example.org", lists=[partners], language="uk")
    make_subscriber("en@example.org", lists=[partners], language="en")
    make_subscriber("other@example.org", lists=[others], language="uk")
    assert [r["email"] for r in parse(export_text(list_slug=partners.slug, language="uk"))] == [
        "uk@example.org"
    ]
    assert len(parse(export_text())) == 3
    assert parse(export_text(status="bounced")) == []
    with pytest.raises(Exception, match="no list with slug 'nope'"):
        export_text(list_slug="nope")


def test_cli_import_then_export_to_standard_output(app, tmp_path):
    partners = make_list(slug="partners")
    source = tmp_path / "people.csv"
    source.write_bytes("Email;Name;Town\nann@example.org;=Ann;Lviv\nbad;Bad;\n".encode("utf-8-sig"))
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "subscribers",
            "import",
            str(source),
            "--list",
            "partners",
            "--map",
            "Town=attribute:town",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "imported 1, updated 0, unchanged 0, rejected 1 of 2 rows" in result.output
    job = db.session.scalar(select(ImportJob))
    assert f"report: {imports.report_path(job)}" in result.output
    exported = runner.invoke(args=["subscribers", "export", "--list", "partners"])
    assert exported.exit_code == 0, exported.output
    rows = [line for line in exported.output.splitlines() if "@" in line]
    assert rows == [
        f"ann@example.org,'=Ann,en,,,active,{rows[0].split(',')[6]},"
        f'{rows[0].split(",")[7]},import people.csv,"{{""town"": ""Lviv""}}",confirmed'
    ]
    assert partners.id == job.list_id


def test_cli_import_refuses_bad_arguments_in_one_line(app, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("email\nann@example.org\n")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["subscribers", "import", str(source), "--list", "nope"])
    assert (result.exit_code, result.output) == (1, "Error: no list with slug 'nope'\n")
    result = runner.invoke(args=["subscribers", "import", str(source), "--mode", "opt_in"])
    assert (result.exit_code, result.output) == (
        1,
        "Error: list: choose the list to subscribe them to\n",
    )
    make_list(slug="partners")
    result = runner.invoke(
        args=["subscribers", "import", str(source), "--list", "partners", "--map", "email=nickname"]
    )
    assert (result.exit_code, result.output) == (
        1,
        "Error: mapping: column 'email': 'nickname' is not a field\n",
    )
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_panel_upload_map_run_and_download_the_report(client):
    partners = make_list()
    upload = "Adresse;Nom;Langue\nann@example.org;Zoë;fr\nbad;Bad;fr\n".encode("latin-1")
    response = client.post(
        "/imports",
        {"file": (io.BytesIO(upload), "people.csv"), "list_id": partners.id, "mode": "subscribe"},
        content_type="multipart/form-data",
    )
    job = db.session.scalar(select(ImportJob))
    assert response.headers["Location"] == f"/imports/{job.id}/mapping"
    page = text(client.get(f"/imports/{job.id}/mapping"))
    assert "Adresse" in page and "<code>ann@example.org</code>" in page and "latin-1" in page
    response = client.post(
        f"/imports/{job.id}/mapping",
        {"field-0": "email", "field-1": "name", "field-2": "attribute", "attribute-2": "langue"},
    )
    assert response.headers["Location"] == f"/imports/{job.id}"
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status is ImportStatus.QUEUED
    assert imports.claim_queued() == [job.id]
    assert client.get(f"/imports/{job.id}/progress").get_json()["status"] == "running"
    imports.run(job.id)
    state = client.get(f"/imports/{job.id}/progress").get_json()
    assert (state["status"], state["imported"], state["rejected"], state["percent"]) == (
        "done",
        1,
        1,
        100,
    )
    assert '<progress id="bar"' in text(client.get(f"/imports/{job.id}"))
    report = client.get(f"/imports/{job.id}/report")
    assert report.headers["Content-Disposition"].startswith("attachment")
    assert parse(report.get_data(as_text=True))[0]["Adresse"] == "bad"
    report.close()
    assert db.session.execute(select(Subscriber.name, Subscriber.attributes)).one() == (
        "Zoë",
        {"langue": "fr"},
    )


def test_panel_deletes_a_finished_import_with_its_files_but_not_a_running_one(client):
    partners = make_list()
    done = run_import(b"email\nann@example.org\nbad\n", partners)
    assert not imports.upload_path(done).exists()  # the file goes once every row is accounted
    report = imports.report_path(done)
    assert report.exists()
    assert client.get(f"/imports/{done.id}/mapping").headers["Location"] == f"/imports/{done.id}"
    assert "Delete this import" in text(client.get(f"/imports/{done.id}"))
    response = client.post(f"/imports/{done.id}/delete", follow_redirects=True)
    assert f"Import {done.id} is deleted" in text(response)
    assert not report.exists() and db.session.get(ImportJob, done.id) is None
    assert client.get(f"/imports/{done.id}").status_code == 404
    assert db.session.scalar(select(Subscriber.email)) == "ann@example.org"  # the rows stay

    running = imports.upload(
        io.BytesIO(b"email\nbob@example.org\n"), "r.csv", partners.id, "subscribe"
    )
    imports.start(running.id, {"email": "email"}, here=True)
    assert "Delete this import" not in text(client.get(f"/imports/{running.id}"))
    response = client.post(f"/imports/{running.id}/delete", follow_redirects=True)
    assert "is running; delete it once it has finished" in text(response)
    assert imports.upload_path(running).exists()


def test_panel_refuses_a_bad_upload_and_a_bad_mapping_with_the_reason(client):
    partners = make_list()
    response = client.post(
        "/imports",
        {"file": (io.BytesIO(b""), "empty.csv"), "list_id": partners.id, "mode": "subscribe"},
        content_type="multipart/form-data",
    )
    assert "the file is empty" in text(response)
    client.post(
        "/imports",
        {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv"), "list_id": partners.id, "mode": "subscribe"},
        content_type="multipart/form-data",
    )
    job = db.session.scalar(select(ImportJob))
    response = client.post(f"/imports/{job.id}/mapping", {"field-0": "name"}, follow_redirects=True)
    assert "map one column to the email address" in text(response)


def test_panel_export_streams_csv_with_neutralised_cells(client):
    partners = make_list()
    run_import(b"email,name\nann@example.org,@Ann\n", partners)
    assert "Download CSV" in text(client.get("/exports"))
    response = client.get(f"/exports/subscribers.csv?list={partners.id}&language=en")
    assert response.mimetype == "text/csv"
    assert parse(response.get_data(as_text=True))[0]["name"] == "'@Ann"
    response = client.get("/exports/subscribers.csv?status=nonsense", follow_redirects=True)
    assert "&#39;nonsense&#39; is not one of active" in text(response)


def test_the_subscribers_page_exports_what_its_filter_shows_and_never_erased_rows(client):
    partners = make_list()
    make_subscriber("olena@example.org", lists=[partners], name="Olena", country="UA")
    make_subscriber("oleg@example.org", lists=[partners], name="Oleg", country="PL")
    make_subscriber("anna@example.org", lists=[partners], name="Anna", country="UA")
    gone = make_subscriber("olga@example.org", lists=[partners], name="Olga", country="UA")
    db.session.execute(
        update(Subscriber).where(Subscriber.id == gone.id).values(**anonymised_values("x"))
    )
    db.session.commit()
    page = text(client.get(f"/subscribers?q=ol&country=UA&list={partners.id}"))
    link = re.search(r'href="(/exports/subscribers\.csv\?[^"]+)" id="export"', page).group(1)
    exported = parse(client.get(link.replace("&amp;", "&")).get_data(as_text=True))
    assert [(r["email"], r["subscription"]) for r in exported] == [
        ("olena@example.org", "confirmed")
    ]
    everyone = parse(client.get("/exports/subscribers.csv").get_data(as_text=True))
    assert not [r for r in everyone if r["email"].endswith("@erased.invalid")]
    assert len(everyone) == 3
