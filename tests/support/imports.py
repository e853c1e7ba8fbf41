"""Running a CSV import here, as the command line does, and reading its report."""

from __future__ import annotations

import csv
import io

from app.audience import imports
from app.models import ImportJob


def run_import(
    content: bytes,
    mailing_list=None,
    mode: str = "subscribe",
    mapping: dict[str, str] | None = None,
    filename: str = "people.csv",
) -> ImportJob:
    """Upload, map (the guessed mapping plus ``mapping``) and run here, as the command line
    does (claimed at once: no worker takes it)."""
    job = imports.upload(
        io.BytesIO(content), filename, mailing_list.id if mailing_list else None, mode
    )
    imports.start(job.id, imports.preview(job.id).guessed | (mapping or {}), here=True)
    return imports.run(job.id)


def report_of(job: ImportJob) -> list[dict[str, str]]:
    with imports.report_path(job).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
