"""CSV import: encodings and dialects, every bad row kind in the report, no partial state,
idempotent re-runs, the four modes, a crash part-way, a 50 MB file in bounded memory."""

from __future__ import annotations

import csv
import io
import time
import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.addresses import normalize_email
from app.audience import import_chunks, import_rows, imports, suppressions
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    ImportJob,
    ImportStatus,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import utcnow
from app.tokens import hasher
from tests.support.factories import make_group, make_list, make_subscriber
from tests.support.imports import report_of, run_import
from tests.support.smtp import wait_for_mail


def run_queued(job_id: int) -> ImportJob:
    """Claim and run a queued job as a worker would; if the dispatcher of a worker already
    running in this test session took it first, wait for that worker to finish it."""
    if imports.claim(job_id):
        return imports.run(job_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.expire_all()
        job = imports.get(job_id)
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return job
        time.sleep(0.1)
    raise AssertionError(f"import {job_id} did not finish")


def state() -> dict[str, object]:
    """Everything an import may write, as plain data."""
    db.session.expire_all()
    return {
        "subscribers": sorted(
            db.session.execute(
                select(
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.language,
                    Subscriber.country,
                    Subscriber.status,
                    Subscriber.attributes,
                )
            ).all()
        ),
        "subscriptions": sorted(
            db.session.execute(
                select(Subscriber.email, Subscription.list_id, Subscription.status).join(
                    Subscriber, Subscriber.id == Subscription.subscriber_id
                )
            ).all()
        ),
        "suppressions": sorted(db.session.scalars(select(Suppression.email_hash))),
        "outbox": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
    }


def emails() -> set[str]:
    return set(db.session.scalars(select(Subscriber.email)))


@pytest.mark.parametrize(
    ("content", "encoding", "delimiter"),
    [
        ("email,name\r\nann@example.org,José Ñoño\r\n".encode(), "utf-8", ","),
        ("email;name\nann@example.org;José Ñoño\n".encode("utf-8-sig"), "utf-8-sig", ";"),
        ("email\tname\nann@example.org\tJosé Ñoño\n".encode("utf-16"), "utf-16", "\t"),
        ("email\tname\nann@example.org\tJosé Ñoño\n".encode("utf-16-le"), "utf-16-le", "\t"),
        ("email;name\nann@example.org;José Ñoño\n".encode("latin-1"), "latin-1", ";"),
    ],
    ids=["utf8-comma", "utf8-bom-semicolon", "utf16-tab", "utf16le-no-bom", "latin1-semicolon"],
)
def test_encodings_and_delimiters_are_detected(app, content, encoding, delimiter):
    partners = make_list()
    job = run_import(content, partners)
    assert (job.encoding, job.delimiter, job.status) == (encoding, delimiter, ImportStatus.DONE)
    subscriber = db.session.scalar(select(Subscriber))
    assert (subscriber.email, subscriber.name) == ("ann@example.org", "José Ñoño")


def test_a_windows_spreadsheet_file_keeps_its_curly_quotes_and_euro_sign(app):
    content = "email;name\nann@example.org;“Ann” €\n".encode("cp1252")
    assert run_import(content, make_list()).encoding == "cp1252"
    assert db.session.scalar(select(Subscriber.name)) == "“Ann” €"


def test_a_semicolon_file_whose_names_hold_commas_is_split_on_semicolons(app):
    job = run_import(b"email;name\na@example.org;Doe, Jane\nb@example.org;Roe, Rick\n", make_list())
    assert job.delimiter == ";"
    assert set(db.session.scalars(select(Subscriber.name))) == {"Doe, Jane", "Roe, Rick"}


def test_every_bad_row_kind_has_its_report_line_and_only_good_rows_are_imported(app):
    partners = make_list(default_language="uk")
    make_group("Kyiv Solidarity")
    suppressions.suppress_hash(
        db.session.connection(), hasher().email_hash("gone@example.org"), SuppressionReason.BOUNCE
    )
    suppressions.block_domain("spam.example")
    rows = [
        b"email,name,language,group,country,notes",
        b"good@example.org,Good One,pl,kyiv solidarity,ua,ok",  # 2
        b"not-an-address,Bad Address,en,,,",  # 3
        b'crlf@example.org,"Line\r\nBreak",en,,,',  # 4-5
        b"lang@example.org,Unknown Language,xx-!!,,,",  # 6
        b'formula@example.org,=HYPERLINK("http://evil"),en,,,',  # 7
        b"bytes@example.org,Caf\xe9,en,,,",  # 8: a Latin-1 byte in a UTF-8 file
        b"good@example.org,Good Again,en,,,",  # 9
        b"gone@example.org,Suppressed,en,,,",  # 10
        b"someone@spam.example,Blocked Domain,en,,,",  # 11
        b"nul@example.org,Nul\x00Name,en,,,",  # 12
        b"utf8@example.org,\xc3\x9cmit,English,Nowhere,Ukraine,",  # 13
        b"",
    ]
    before = state()
    job = run_import(b"\n".join(rows), partners)
    assert job.encoding == "utf-8"
    lines = [(r["line"], r["outcome"], r["reason"]) for r in report_of(job)]
    assert lines == [
        (
            "3",
            "rejected",
            "'not-an-address' is not a valid address: An email address must have an @-sign.",
        ),
        (
            "4",
            "rejected",
            "column 'name' holds a line break or NUL (this row runs from line 4 to 5)",
        ),
        ("6", "imported with a warning", "unknown language 'xx-!!'; imported as uk"),
        ("7", "imported with a warning", "column 'name' starts like a formula; stored as text"),
        ("8", "rejected", "column 'name' holds bytes that are not valid text"),
        ("9", "rejected", "the address is earlier in the file"),
        ("10", "rejected", "the address is suppressed (bounce)"),
        ("11", "rejected", "the domain spam.example is blocked"),
        ("12", "rejected", "column 'name' holds a line break or NUL"),
        (
            "13",
            "imported with a warning",
            "no group named 'Nowhere'; imported without a group; "
            "'Ukraine' is not a two-letter country code; left empty",
        ),
    ]
    assert report_of(job)[4]["name"] == "Caf\\xe9"  # the raw value, its bad byte shown
    assert report_of(job)[3]["name"] == '\'=HYPERLINK("http://evil")'  # inert in a spreadsheet
    assert (job.processed_rows, job.imported, job.rejected) == (11, 4, 7)
    assert emails() - before_emails(before) == {
        "good@example.org",
        "lang@example.org",
        "formula@example.org",
        "utf8@example.org",
    }
    people = {s.email: s for s in db.session.scalars(select(Subscriber))}
    assert people["formula@example.org"].name == '=HYPERLINK("http://evil")'
    assert (people["lang@example.org"].language, people["utf8@example.org"].language) == (
        "uk",
        "en",
    )
    assert people["good@example.org"].group.name == "Kyiv Solidarity"
    assert (people["good@example.org"].country, people["good@example.org"].name) == (
        "UA",
        "Good One",
    )
    assert people["good@example.org"].consent_source == "import people.csv"


def before_emails(snapshot: dict[str, object]) -> set[str]:
    return {row[0] for row in snapshot["subscribers"]}  # type: ignore[union-attr]


def test_a_reimport_changes_nothing_and_says_so(app):
    partners = make_list()
    content = b"email,name\nann@example.org,Ann\nbob@example.org,Bob\nbad,Bad\n"
    first = run_import(content, partners)
    after_first = state()
    second = run_import(content, partners)
    assert state() == after_first
    assert (first.imported, first.skipped, first.rejected) == (2, 0, 1)
    assert (second.imported, second.updated, second.skipped, second.rejected) == (0, 0, 2, 1)


def test_an_existing_subscriber_joins_the_list_but_keeps_their_own_details(app):
    partners, other = make_list(), make_list()
    make_subscriber("ann@example.org", lists=[other], language="uk", name="Анна")
    job = run_import(b"email,name,language\nann@example.org,Ann,en\n", partners)
    ann = db.session.scalar(select(Subscriber))
    assert (ann.name, ann.language, job.updated) == ("Анна", "uk", 1)
    assert [(r["outcome"], r["reason"]) for r in report_of(job)] == [
        (
            "imported with a warning",
            "already a subscriber: kept their own name, language (an update import changes them)",
        )
    ]
    assert {s.list_id for s in db.session.scalars(select(Subscription))} == {partners.id, other.id}


def test_an_address_that_signs_up_while_its_chunk_is_written_counts_as_known(app, monkeypatch):
    partners = make_list()
    real_insert = import_chunks._insert_subscribed

    def sign_up_first(context, rows):
        make_subscriber("bob@example.org", lists=[], language="uk", name="Bob's own")
        return real_insert(context, rows)

    monkeypatch.setattr(import_chunks, "_insert_subscribed", sign_up_first)
    job = run_import(b"email,name\nann@example.org,Ann\nbob@example.org,Bob\n", partners)
    assert (job.imported, job.updated, job.rejected) == (1, 1, 0)
    assert state()["subscriptions"] == [
        ("ann@example.org", partners.id, SubscriptionStatus.CONFIRMED),
        ("bob@example.org", partners.id, SubscriptionStatus.CONFIRMED),
    ]
    bob = db.session.scalar(select(Subscriber).where(Subscriber.email == "bob@example.org"))
    assert (bob.name, bob.language) == ("Bob's own", "uk")


def test_a_row_the_database_skips_for_another_reason_is_reported_not_lost(app, monkeypatch):
    partners = make_list()
    taken = make_subscriber("old@example.org", lists=[]).uid
    real_uids = import_chunks.new_uids
    # A clash of the random public ids (in practice, never): the insert skips that row.
    monkeypatch.setattr(import_chunks, "new_uids", lambda count: [taken, *real_uids(count - 1)])
    job = run_import(b"email\nann@example.org\nbob@example.org\n", partners)
    assert (job.imported, job.rejected) == (1, 1)
    assert [(r["line"], r["reason"]) for r in report_of(job)] == [
        ("2", "not stored: it changed while importing; import the file again")
    ]
    assert emails() == {"old@example.org", "bob@example.org"}
    assert state()["subscriptions"] == [
        ("bob@example.org", partners.id, SubscriptionStatus.CONFIRMED)
    ]  # and not the subscriber whose uid it clashed with


def test_whole_file_problems_are_refused_and_create_nothing(app):
    partners = make_list()
    files_before = set(imports.folder().iterdir())
    cases = {
        b"": "the file is empty",
        b"\xef\xbb\xbf\r\n\r\n": "the file is empty",
        b"email,name\r\n": "the file has a header but no rows",
    }
    for content, message in cases.items():
        with pytest.raises(InvalidInput, match=message):
            imports.upload(io.BytesIO(content), "empty.csv", partners.id, "subscribe")
    with pytest.raises(InvalidInput, match="map one column to the email address"):
        run_import(b"address_of_mail,name\nann@example.org,Ann\n", partners)
    with pytest.raises(InvalidInput, match="choose the list"):
        imports.upload(io.BytesIO(b"email\na@example.org\n"), "x.csv", None, "subscribe")
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert db.session.scalars(select(ImportJob.status)).all() == [ImportStatus.UPLOADED]
    job = db.session.scalar(select(ImportJob))
    assert set(imports.folder().iterdir()) - files_before == {imports.upload_path(job)}


def test_a_crash_part_way_fails_the_job_with_how_far_it_got_and_a_rerun_finishes(app, monkeypatch):
    partners = make_list()
    content = b"email\n" + b"".join(f"p{n}@example.org\n".encode() for n in range(7)) + b"bad\n"
    monkeypatch.setattr(imports, "CHUNK", 3)
    real_write, calls = import_chunks.write, []

    def write_then_fail(context, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_write(context, rows)

    monkeypatch.setattr(import_chunks, "write", write_then_fail)
    with pytest.raises(RuntimeError):
        run_import(content, partners)
    job = db.session.scalar(select(ImportJob))
    assert (job.status, job.processed_rows, job.imported) == (ImportStatus.FAILED, 3, 3)
    assert job.error.startswith("stopped after 3 rows (RuntimeError: database went away)")
    assert emails() == {"p0@example.org", "p1@example.org", "p2@example.org"}
    assert report_of(job) == []  # the failed chunk wrote nothing, the report neither

    imports.retry(job.id)
    done = run_queued(job.id)
    assert (done.status, done.processed_rows, done.imported, done.skipped) == (
        ImportStatus.DONE,
        8,
        4,
        3,
    )
    assert [r["line"] for r in report_of(done)] == ["9"]
    assert len(emails()) == 7
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 7


def test_old_imports_are_forgotten_with_their_files_and_recent_ones_kept(app):
    partners = make_list()
    old = run_import(b"email\nann@example.org\nbad\n", partners)
    recent = run_import(b"email\nbob@example.org\n", partners)
    abandoned = imports.upload(io.BytesIO(b"email\nzed@example.org\n"), "z.csv", None, "update")
    running = imports.upload(io.BytesIO(b"email\nmax@example.org\n"), "m.csv", None, "update")
    imports.start(running.id, {"email": "email"}, here=True)
    # 20 days: younger than the default 30, so the session's dispatcher (which forgets old
    # imports on every tick) leaves them for this test to forget with a shorter time.
    weeks_ago = utcnow() - timedelta(days=20)
    old.finished_at = running.finished_at = weeks_ago
    uploaded_as = imports.upload_path(abandoned)
    abandoned.created_at = weeks_ago
    db.session.commit()
    uploaded_as.rename(imports.upload_path(abandoned))  # its file's name carries the time
    files = [imports.upload_path(abandoned), imports.report_path(old)]
    assert all(path.exists() for path in files)

    assert imports.forget_old(0) == 0  # 0 keeps everything
    assert imports.forget_old() == 0  # IMPORT_KEEP_DAYS, 30 by default
    assert imports.forget_old(10) == 2
    assert set(db.session.scalars(select(ImportJob.id))) == {recent.id, running.id}
    assert not any(path.exists() for path in files)
    assert imports.report_path(recent).exists()
    assert emails() == {"ann@example.org", "bob@example.org"}  # subscribers are not touched


def test_a_job_is_claimed_once_and_only_when_queued(app):
    partners = make_list()
    job = imports.upload(io.BytesIO(b"email\na@example.org\n"), "a.csv", partners.id, "subscribe")
    assert imports.claim_queued() == []
    imports.start(job.id, {"email": "email"})
    assert imports.claim_queued() == [job.id]
    assert imports.claim_queued() == []
    assert not imports.claim(job.id)
    assert imports.run(job.id).status is ImportStatus.DONE
    assert imports.run(job.id).imported == 1  # a second delivery of the task does nothing
    # The command line runs its job itself: claimed as it starts, never queued for a worker.
    here = imports.upload(io.BytesIO(b"email\nb@example.org\n"), "b.csv", partners.id, "subscribe")
    assert imports.start(here.id, {"email": "email"}, here=True).status is ImportStatus.RUNNING
    assert imports.claim_queued() == [] and not imports.claim(here.id)


def test_opt_in_mode_subscribes_unconfirmed_and_mails_each_new_address_once(app):
    partners = make_list()
    content = b"email,language\nann@example.org,uk\nbob@example.org,de\n"
    job = run_import(content, partners, mode="opt_in")
    assert job.imported == 2
    assert set(db.session.scalars(select(Subscription.status))) == {SubscriptionStatus.UNCONFIRMED}
    assert set(db.session.scalars(select(Subscriber.confirmed_at))) == {None}
    mails = db.session.scalars(select(OutboxMessage)).all()
    assert sorted((m.to_address, m.language, m.kind.value) for m in mails) == [
        ("ann@example.org", "uk", "confirm"),
        ("bob@example.org", "de", "confirm"),
    ]
    run_import(content, partners, mode="opt_in")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


@pytest.mark.slow
def test_the_worker_runs_a_queued_opt_in_import_and_each_address_gets_its_mail(
    app, run_worker, smtp
):
    partners = make_list(name="Action alerts")
    content = "email,name,language\nann@example.org,Ann,uk\nbob@example.org,Bob,es\nbad,Bad,en\n"
    job = imports.upload(io.BytesIO(content.encode()), "people.csv", partners.id, "opt_in")
    imports.start(job.id, {"email": "email", "name": "name", "language": "language"})
    deadline = time.monotonic() + 60  # the dispatcher claims it, a worker runs it
    while time.monotonic() < deadline and job.status is not ImportStatus.DONE:
        time.sleep(0.2)
        db.session.expire_all()
        job = imports.get(job.id)
    assert (job.status, job.imported, job.rejected) == (ImportStatus.DONE, 2, 1)
    assert [r["line"] for r in report_of(job)] == ["4"]
    messages = wait_for_mail(smtp, 2)
    assert sorted((m["To"], m["Content-Language"]) for m in messages) == [
        ("Ann <ann@example.org>", "uk"),
        ("Bob <bob@example.org>", "es"),
    ]


def test_update_mode_changes_known_subscribers_only(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners], name="Ann", language="en")
    content = (
        b"email,name,language,city\nann@example.org,Ann Smith,,Lviv\nnew@example.org,New,en,Kyiv\n"
    )
    job = run_import(content, mode="update", mapping={"city": "attribute:city"})
    ann = db.session.scalar(select(Subscriber))
    assert (ann.name, ann.language, ann.attributes) == ("Ann Smith", "en", {"city": "Lviv"})
    assert [(r["line"], r["reason"]) for r in report_of(job)] == [
        ("3", "not a subscriber; update mode adds nobody")
    ]
    assert (job.updated, job.rejected, emails()) == (1, 1, {"ann@example.org"})


def test_a_warning_is_reported_only_for_values_that_were_written(app):
    partners = make_list(default_language="uk")
    make_subscriber("old@example.org", lists=[], language="pl")
    content = b"email,language,country\nnew@example.org,xx-!!,UA\nold@example.org,xx-!!,UA\n"
    first = run_import(content, partners)
    assert [(r["line"], r["reason"]) for r in report_of(first)] == [
        ("2", "unknown language 'xx-!!'; imported as uk"),
        (
            "3",
            "already a subscriber: kept their own country (an update import changes them)",
        ),  # no warning: nothing written
    ]
    again = run_import(content, partners)
    assert again.skipped == 2
    assert [(r["line"], r["reason"]) for r in report_of(again)] == [
        ("3", "already a subscriber: kept their own country (an update import changes them)")
    ]
    update = run_import(b"email,country\nold@example.org,Ukraine\n", mode="update")
    assert [r["reason"] for r in report_of(update)] == [
        "'Ukraine' is not a two-letter country code; unchanged"
    ]
    old = db.session.scalar(select(Subscriber).where(Subscriber.email == "old@example.org"))
    assert (old.language, old.country) == ("pl", None)


def test_report_lines_are_written_before_their_chunk_commits(app):
    """A crash between the two must not leave stored rows missing from the report: a
    commit that fails finds the chunk's lines in the report already."""
    partners = make_list()

    def fail_the_chunk(session):
        if any(isinstance(o, ImportJob) and o.processed_rows for o in session.dirty):
            raise RuntimeError("the disk is full")

    event.listen(Session, "before_commit", fail_the_chunk)
    try:
        with pytest.raises(RuntimeError):
            run_import(b"email\nann@example.org\nbad\n", partners)
    finally:
        event.remove(Session, "before_commit", fail_the_chunk)
    job = db.session.scalar(select(ImportJob))
    assert (job.status, job.processed_rows, emails()) == (ImportStatus.FAILED, 0, set())
    assert [r["line"] for r in report_of(job)] == ["3"]


def test_report_header_cells_that_start_like_a_formula_are_neutralised(app):
    job = run_import(b'email,=HYPERLINK("http://x")\nbad,1\n', make_list())
    with imports.report_path(job).open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["line", "outcome", "reason", "email", '\'=HYPERLINK("http://x")']


def test_blocklist_mode_suppresses_and_later_imports_refuse_those_addresses(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    job = run_import(b"email\nAnn@Example.org\nzed@example.org\n", mode="blocklist")
    assert (job.imported, job.status) == (2, ImportStatus.DONE)
    assert db.session.scalar(select(Subscriber.status)) is SubscriberStatus.BLOCKLISTED
    assert suppressions.is_suppressed("zed@example.org")
    assert run_import(b"email\nzed@example.org\n", mode="blocklist").skipped == 1
    again = run_import(b"email\nzed@example.org\nann@example.org\n", partners)
    assert [r["reason"] for r in report_of(again)] == [
        "the address is suppressed (manual)",
        "the address is suppressed (manual)",
    ]


def test_someone_who_left_the_list_is_not_brought_back(app):
    partners = make_list()
    make_subscriber("ann@example.org", lists=[partners])
    db.session.execute(Subscription.__table__.update().values(status="unsubscribed"))
    db.session.commit()
    job = run_import(b"email\nann@example.org\n", partners)
    assert [r["reason"] for r in report_of(job)] == [
        "they left this list; an import does not bring back"
    ]
    assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.UNSUBSCRIBED


def test_exported_cells_import_back_as_they_were(app):
    partners = make_list()
    content = b'email,name,attributes\nann@example.org,\'=1+1,"{""k"": 1}"\n'
    run_import(content, partners)
    ann = db.session.scalar(select(Subscriber))
    assert (ann.name, ann.attributes) == ("=1+1", {"k": 1})


def test_a_50_mb_file_is_read_as_a_stream(app):
    """50 MB: 20,000 rows with a wide column that is not imported, a cell beyond csv's limit,
    and bad rows; memory stays far below the file's size and every row is accounted for."""
    partners = make_list()
    padding = "x" * 2_500
    lines = ["email,name,notes"]
    for n in range(20_000):
        address = f"member{n}@example.org" if n % 1000 else f"broken{n}"
        lines.append(f"{address},Member {n},{padding}")
    lines.insert(5000, f'giant@example.org,Giant,"{"y" * 200_000}"')
    content = ("\n".join(lines) + "\n").encode()
    assert len(content) > 50_000_000
    job = imports.upload(io.BytesIO(content), "big.csv", partners.id, "subscribe")
    del content, lines
    imports.start(job.id, {"email": "email", "name": "name"}, here=True)
    tracemalloc.start()
    try:
        done = imports.run(job.id)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12_000_000, peak
    assert (done.processed_rows, done.imported, done.rejected) == (20_001, 19_980, 21)
    report = report_of(done)
    assert report[5]["line"] == "5001"
    assert report[5]["reason"].startswith(
        "the CSV cannot be read here: field larger than field limit"
    )
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 19_980


@pytest.mark.parametrize(
    "address",
    [
        "Ann.Smith+news@Example.ORG",
        "  ann@example.org ",
        "o'brien@example.ie",
        "ann@bücher.example",
        "ann@xn--bcher-kva.example",
        "a@localhost",
        "ann@@example.org",
        "ann..smith@example.org",
        ".ann@example.org",
        "ann@-example.org",
        "ann@example",
        "ann@example.123",
        "ann@exa_mple.org",
        '"quoted"@example.org',
        "анна@example.org",
        "a" * 65 + "@example.org",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60 + ".org",
        "ann@example.org.",
        "ann@192.168.0.1",
        "ann@[192.168.0.1]",
    ],
)
def test_the_fast_address_check_agrees_with_email_validator(address):
    try:
        expected = normalize_email(address)
    except InvalidInput:
        expected = None
    try:
        got = import_rows.normalize_address(address)
    except InvalidInput:
        got = None
    assert got == expected


def test_seen_addresses_find_every_repeat_across_growth():
    seen = import_rows.SeenAddresses()
    keys = [f"{n * 7919:016x}" + "0" * 48 for n in range(1, 50_001)]
    assert all(seen.add(k) for k in keys)
    assert not any(seen.add(k) for k in keys)
    assert seen.size == 50_000
