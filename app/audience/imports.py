"""CSV imports of subscribers: upload, column mapping, then a streamed run in chunks.

The file waits under ``<instance>/imports/``. The panel or the CLI marks a mapped job
``queued``; the dispatcher claims it (``running``) and a worker runs it. Each chunk of rows
is one transaction that also moves the job's counters, and every row that is not imported
as asked goes to the report beside the upload, so a row is always either in the database or
in the report (see docs/architecture.md, "Imports and exports").
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

from flask import current_app
from sqlalchemy import or_, select, text, update

from app.audience import csv_files, import_chunks, import_rows
from app.database import run_counted
from app.errors import Conflict, InvalidInput, NotFound, Required, member_of
from app.extensions import db
from app.models import Group, ImportJob, ImportMode, ImportStatus, MailingList
from app.models.base import utcnow
from app.pipeline import read_ahead
from app.tokens import hasher

CHUNK = 5000
CHUNK_CHARACTERS = 2_000_000  # a chunk of very wide rows ends sooner: memory stays bounded
MAX_BYTES = 1 << 30
SAMPLE_ROWS = 5
REPORT_HEADER = ["line", "outcome", "reason"]


def folder() -> Path:
    """Where uploads and reports live: a folder only the app's user may open (0700)."""
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _private(path: Path, mode: str) -> IO[Any]:
    """Open a file of addresses for writing, created 0600 (whatever the process umask)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file left by an older version keeps no looser mode
    if "b" in mode:
        return os.fdopen(descriptor, mode)
    return os.fdopen(descriptor, mode, encoding="utf-8", newline="")


def _stem(job: ImportJob) -> str:
    # The time keeps a reused id (SQLite reuses the highest one once deleted) off old files.
    return f"{job.id}-{job.created_at:%Y%m%d%H%M%S%f}"


def upload_path(job: ImportJob) -> Path:
    """The uploaded file of a job."""
    return folder() / f"{_stem(job)}.csv"


def report_path(job: ImportJob) -> Path:
    """The report of a job: one line per row not imported as asked, with the reason."""
    return folder() / f"{_stem(job)}-report.csv"


def get(job_id: int) -> ImportJob:
    """Return an import job or raise ``NotFound``."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"no import {job_id}")
    return job


def upload(source: BinaryIO, filename: str, list_id: int | None, mode: str) -> ImportJob:
    """Store an uploaded CSV file, detect its encoding and delimiter, and create the job
    (``uploaded``: waiting for its mapping). A bad file creates nothing."""
    chosen = member_of(ImportMode, mode, "mode", message=f"{mode!r} is not an import mode")
    mailing_list = db.session.get(MailingList, list_id) if list_id else None
    if mailing_list is None and chosen.creates:
        raise Required("list", message="choose the list to subscribe them to")
    job = ImportJob(
        filename=Path(filename or "upload.csv").name[:255], mode=chosen, created_at=utcnow()
    )
    job.mailing_list = mailing_list
    db.session.add(job)
    db.session.flush()
    path = upload_path(job)
    try:
        _copy(source, path)
        shape = csv_files.detect(path)
        job.encoding, job.delimiter = shape.encoding, shape.delimiter
        job.total_rows = max(shape.lines - 1, 1)
        header(job)
    except BaseException:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    db.session.commit()
    return job


def _copy(source: BinaryIO, path: Path) -> None:
    with _private(path, "wb") as target:
        while piece := source.read(csv_files.PIECE):
            target.write(piece)
            if target.tell() > MAX_BYTES:
                raise InvalidInput(f"the file is larger than {MAX_BYTES >> 20} MB", "file")


def _open_records(job: ImportJob) -> Iterator[csv_files.Record]:
    path = upload_path(job)
    if not path.exists():
        raise NotFound(f"the file of import {job.id} is gone")
    with csv_files.open_text(path, job.encoding) as text:
        yield from csv_files.records(text, job.delimiter)


def _header_of(first: csv_files.Record | None) -> list[str]:
    if first is None:
        raise InvalidInput("the file is empty", "file")
    if first.problem:
        raise InvalidInput(f"the header cannot be read: {first.problem}", "file")
    names: list[str] = []
    for number, cell in enumerate(first.cells, 1):
        name = csv_files.printable(cell.strip()) or f"column {number}"
        while name in names:
            name = f"{name} ({number})"
        names.append(name)
    return names


def header(job: ImportJob) -> list[str]:
    """The file's column names (empty ones named by position, repeated ones numbered)."""
    records = _open_records(job)
    names = _header_of(next(records, None))
    if next(records, None) is None:
        raise InvalidInput("the file has a header but no rows", "file")
    return names


@dataclass(frozen=True)
class MappingPreview:
    """What the mapping step shows: each column, its guessed field, a few sample values."""

    columns: list[str]
    guessed: dict[str, str]
    samples: list[list[str]]


def preview(job_id: int) -> MappingPreview:
    """The header, a guessed mapping and the first rows, for the mapping step."""
    job = get(job_id)
    records = _open_records(job)
    columns = _header_of(next(records, None))
    samples = [
        [csv_files.printable(c) for c in record.cells]
        for record in itertools.islice(records, SAMPLE_ROWS)
    ]
    return MappingPreview(columns, job.mapping or import_rows.guess_mapping(columns), samples)


def start(job_id: int, mapping: dict[str, str], *, here: bool = False) -> ImportJob:
    """Check the mapping and queue the job for a worker, or, ``here``, claim it for the
    caller to ``run`` (the command line): it is never queued, so no worker takes it too."""
    job = get(job_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.QUEUED):
        raise Conflict(f"import {job_id} is {job.status.value}; it cannot be mapped again")
    job.mapping = import_rows.check_mapping(header(job), mapping)
    if here:
        job.status, job.started_at = ImportStatus.RUNNING, utcnow()
    else:
        job.status = ImportStatus.QUEUED
    db.session.commit()
    return job


def retry(job_id: int) -> ImportJob:
    """Queue a failed import again; re-running skips what the first run imported."""
    job = get(job_id)
    if job.status is not ImportStatus.FAILED:
        raise Conflict(f"import {job_id} is {job.status.value}, not failed")
    job.status = ImportStatus.QUEUED
    db.session.commit()
    return job


def claim(job_id: int) -> bool:
    """Move one queued job to ``running`` (atomic: exactly one caller wins)."""
    claimed = run_counted(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == ImportStatus.QUEUED)
        .values(status=ImportStatus.RUNNING, started_at=utcnow())
    )
    db.session.commit()
    return bool(claimed)


def claim_queued(limit: int = 5) -> list[int]:
    """Claim queued jobs for the dispatcher; return the ids it should hand to workers."""
    ids = db.session.scalars(
        select(ImportJob.id)
        .where(ImportJob.status == ImportStatus.QUEUED)
        .order_by(ImportJob.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    return [job_id for job_id in ids if claim(job_id)]


Progress = Callable[[ImportJob], None]


def run(job_id: int, progress: Progress | None = None) -> ImportJob:
    """Run a claimed job to the end, a chunk per transaction; a job that is not ``running``
    is left alone. On an error the job is marked failed with how far it got."""
    job = get(job_id)
    if job.status is not ImportStatus.RUNNING:
        return job
    job.processed_rows = job.imported = job.updated = job.skipped = job.rejected = 0
    job.error, job.finished_at = "", None
    db.session.commit()
    try:
        _run(job, progress or (lambda _job: None))
    except BaseException as exc:
        db.session.rollback()
        _fail(job_id, exc)
        raise
    return job


def _fail(job_id: int, exc: BaseException) -> None:
    job = get(job_id)
    job.status, job.finished_at = ImportStatus.FAILED, utcnow()
    job.error = (
        f"stopped after {job.processed_rows} rows ({exc.__class__.__name__}: {exc}); every "
        "row before is imported or in the report. Run it again to finish: rows already "
        "imported are skipped."
    )[:2000]
    db.session.commit()


def _context(job: ImportJob) -> import_chunks.Context:
    mailing_list = job.mailing_list
    return import_chunks.Context(
        mode=job.mode,
        list_id=job.list_id,
        default_language=mailing_list.default_language if mailing_list else "en",
        source=f"import {job.filename}"[:200],
        now=utcnow(),
        hasher=hasher(),
        blocked_domains=import_chunks.blocked_domains(),
    )


def _run(job: ImportJob, progress: Progress) -> None:
    if db.session.get_bind().dialect.name == "sqlite":
        # Random inserts into the address and uid indexes want more than SQLite's 2 MB cache,
        # and fewer, larger checkpoints write each touched index page fewer times.
        db.session.execute(text("PRAGMA cache_size = -16384"))
        db.session.execute(text("PRAGMA wal_autocheckpoint = 8192"))
    context = _context(job)
    groups = {name.casefold(): i for i, name in db.session.execute(select(Group.id, Group.name))}
    records = _open_records(job)
    columns = _header_of(next(records, None))
    checker = import_rows.RowChecker(
        columns, job.mapping, context.default_language if job.mode.creates else None, groups
    )
    checked = _checked(records, checker, context)
    with (
        _private(report_path(job), "w") as handle,
        read_ahead(checked) as chunks,
    ):
        report = csv_files.writer(handle)
        report.writerow(REPORT_HEADER + [csv_files.neutralise(name) for name in columns])
        for chunk in chunks:
            lines = _write_chunk(job, context, chunk)
            # The lines go out before the commit: a crash between the two leaves lines of
            # rows not stored (a run again rewrites the report), never stored rows unlisted.
            report.writerows(lines)
            handle.flush()
            db.session.commit()
            progress(job)
    job.status, job.finished_at = ImportStatus.DONE, utcnow()
    job.total_rows = job.processed_rows
    db.session.commit()
    # Every row is in the database or the report now: the copy of the file is not needed.
    upload_path(job).unlink(missing_ok=True)
    progress(job)


def _batched(records: Iterator[csv_files.Record]) -> Iterator[list[csv_files.Record]]:
    """Chunks of CHUNK records, or fewer when their cells add up to CHUNK_CHARACTERS."""
    chunk: list[csv_files.Record] = []
    size = 0
    for record in records:
        chunk.append(record)
        size += sum(map(len, record.cells))
        if len(chunk) >= CHUNK or size >= CHUNK_CHARACTERS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


ReportLine = tuple[int, str, str, list[str]]


@dataclass
class Checked:
    """A chunk of records after every check that needs no database."""

    records: int
    lines: list[ReportLine]  # the rows rejected so far, for the report
    candidates: list[import_rows.Candidate]


def _checked(
    records: Iterator[csv_files.Record],
    checker: import_rows.RowChecker,
    context: import_chunks.Context,
) -> Iterator[Checked]:
    """Check the file chunk by chunk (run ahead of the writes, in a thread: nothing here
    touches the database or the application)."""
    seen = import_rows.SeenAddresses()
    for chunk in _batched(records):
        lines: list[ReportLine] = []
        candidates: list[import_rows.Candidate] = []
        for record in chunk:
            if record.problem:
                lines.append((record.line, "rejected", record.problem, []))
                continue
            try:
                candidate = checker.check(record.line, record.cells)
            except import_rows.RowRejected as exc:
                lines.append((record.line, "rejected", _spanning(record, str(exc)), record.cells))
                continue
            candidate.email_hash = context.hasher.email_hash(candidate.email)
            if not seen.add(candidate.email_hash):
                lines.append(
                    (record.line, "rejected", "the address is earlier in the file", record.cells)
                )
                continue
            candidates.append(candidate)
        import_chunks.prepare(context, candidates)
        yield Checked(len(chunk), lines, candidates)


def _write_chunk(job: ImportJob, context: import_chunks.Context, chunk: Checked) -> list[list[str]]:
    """Write one checked chunk; move the job's counters; return the report's lines."""
    candidates, lines = chunk.candidates, chunk.lines
    outcome = import_chunks.write(context, candidates)
    lines += [(row.line, "rejected", reason, row.cells) for row, reason in outcome.refused]
    lines += [
        (row.line, "imported with a warning", "; ".join(row.warnings), row.cells)
        for row in outcome.written
        if row.warnings
    ]
    lines += [(row.line, "imported with a warning", note, row.cells) for row, note in outcome.noted]
    job.processed_rows += chunk.records
    job.imported += outcome.imported
    job.updated += outcome.updated
    job.skipped += outcome.skipped
    job.rejected += sum(1 for line in lines if line[1] == "rejected")
    lines.sort(key=lambda line: line[0])
    return [
        [
            str(line),
            outcome_,
            reason,
            *(csv_files.neutralise(csv_files.printable(c)) for c in cells),
        ]
        for line, outcome_, reason, cells in lines
    ]


def _spanning(record: csv_files.Record, reason: str) -> str:
    if record.last_line > record.line:
        return f"{reason} (this row runs from line {record.line} to {record.last_line})"
    return reason


def delete(job_id: int) -> None:
    """Forget an import: its row, its uploaded file and its report. A running one stays."""
    job = get(job_id)
    if job.status is ImportStatus.RUNNING:
        raise Conflict(f"import {job_id} is running; delete it once it has finished")
    _forget(job)
    db.session.commit()


def forget_old(keep_days: float | None = None) -> int:
    """Forget imports that finished (or were uploaded and never started) more than
    ``keep_days`` (``IMPORT_KEEP_DAYS``; 0 keeps them) ago, so that files of addresses do not
    pile up; return how many."""
    if keep_days is None:
        keep_days = float(current_app.config["IMPORT_KEEP_DAYS"])
    if keep_days <= 0:
        return 0
    before = utcnow() - timedelta(days=keep_days)
    old = db.session.scalars(
        select(ImportJob).where(
            or_(
                ImportJob.finished_at < before,
                (ImportJob.status == ImportStatus.UPLOADED) & (ImportJob.created_at < before),
            ),
            ImportJob.status != ImportStatus.RUNNING,
        )
    ).all()
    for job in old:
        _forget(job)
    db.session.commit()
    return len(old)


def _forget(job: ImportJob) -> None:
    upload_path(job).unlink(missing_ok=True)
    report_path(job).unlink(missing_ok=True)
    db.session.delete(job)


def progress_of(job: ImportJob) -> dict[str, object]:
    """A job's state as plain data, for the progress bar and the CLI."""
    total = max(job.total_rows, job.processed_rows, 1)
    return {
        "id": job.id,
        "status": job.status.value,
        "processed": job.processed_rows,
        "total": total,
        "percent": 100
        if job.status is ImportStatus.DONE
        else int(100 * job.processed_rows / total),
        "imported": job.imported,
        "updated": job.updated,
        "skipped": job.skipped,
        "rejected": job.rejected,
        "error": job.error,
    }


def recent(limit: int = 20) -> list[ImportJob]:
    """The latest imports, newest first."""
    return list(db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))
