"""CSV files in and out: encoding and dialect detection, rows as a stream, safe cells.

Reading never holds a file in memory: the detection reads the file once in 1 MB pieces, and
rows come one at a time from ``csv.reader`` over an incremental decoder.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.errors import InvalidInput

DELIMITERS = ",;\t"
PIECE = 1 << 20
SAMPLE = 64 * 1024
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MARK_ERRORS = "tocsin-mark"
_MARKED = re.compile("[\udc00-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f\udc00-\udcff]")
_C1_BYTES = re.compile(b"[\x80-\x9f]")


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    """Decode each undecodable byte as a lone surrogate (U+DC00 + byte) instead of failing,
    like ``surrogateescape`` but for every codec and every byte value, so that the row that
    holds it can be rejected by name and the rest of the file still read."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(MARK_ERRORS, _mark_bad_bytes)


@dataclass(frozen=True)
class Shape:
    """What the detection found: how to decode and split the file, and about how many rows."""

    encoding: str
    delimiter: str
    lines: int


def detect(path: Path) -> Shape:
    """Find the encoding (BOM, else UTF-8, else Windows-1252 or Latin-1) and the delimiter."""
    with path.open("rb") as handle:
        head = handle.read(PIECE)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise InvalidInput("the file is empty", "file")
    encoding = _bom_encoding(head) or _utf16_without_bom(head)
    if encoding is None:
        encoding, lines = _scan_utf8(path)
    else:
        lines = _count_lines(path, encoding)
    with open_text(path, encoding) as text:
        sample = text.read(SAMPLE)
    return Shape(encoding, _delimiter(sample), lines)


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 without a BOM shows as a NUL in every other byte of ASCII text."""
    sample = head[:1024]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _scan_utf8(path: Path) -> tuple[str, int]:
    """UTF-8 when the file decodes, or when it holds real multi-byte text beside a few bad
    bytes (those rows are rejected); else Windows-1252 when it has bytes 0x80-0x9F, else
    Latin-1."""
    decoder = codecs.getincrementaldecoder("utf-8")(MARK_ERRORS)
    bad = non_ascii = windows = False
    lines = carriage = 0
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            lines += piece.count(b"\n")
            carriage += piece.count(b"\r")
            if piece.isascii():
                continue
            text = decoder.decode(piece)
            bad = bad or _MARKED.search(text) is not None
            non_ascii = non_ascii or _NON_ASCII.search(text) is not None
            windows = windows or _C1_BYTES.search(piece) is not None
    bad = bad or _MARKED.search(decoder.decode(b"", final=True)) is not None
    if bad and not non_ascii:
        # Bytes 0x80-0x9F are control characters in Latin-1 but € “ ” … in Windows-1252,
        # which is what spreadsheets on Windows write.
        return ("cp1252" if windows else "latin-1"), max(lines, carriage)
    return "utf-8", max(lines, carriage)


def _count_lines(path: Path, encoding: str) -> int:
    lines = carriage = 0
    with open_text(path, encoding) as text:
        while piece := text.read(PIECE):
            lines += piece.count("\n")
            carriage += piece.count("\r")
    return max(lines, carriage)


def _delimiter(sample: str) -> str:
    """csv.Sniffer's choice among comma, semicolon and tab when the header holds it; else the
    one the header holds most often; else a comma (a file with one column)."""
    if len(sample) == SAMPLE and "\n" in sample:
        sample = sample[: sample.rfind("\n")]  # the last line may be cut in the middle
    header = sample.splitlines()[0] if sample else ""
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in header:
        return sniffed
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    """Open a file as text for ``csv``: bad bytes marked, newlines left to the reader."""
    return open(path, encoding=encoding, errors=MARK_ERRORS, newline="")  # noqa: SIM115


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on, the line it ends on, its cells or a problem."""

    line: int
    last_line: int
    cells: list[str]
    problem: str = ""


def records(text: io.TextIOBase, delimiter: str) -> Iterator[Record]:
    """Yield every record of a CSV text stream, blank lines skipped; a record ``csv`` cannot
    read (a field beyond its size limit, after an unbalanced quote) comes with a problem."""
    reader = csv.reader(text, delimiter=delimiter)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(line, reader.line_num, [], f"the CSV cannot be read here: {exc}")
        else:
            if any(cells):
                yield Record(line, reader.line_num, cells)
        line = reader.line_num + 1


def has_bad_bytes(value: str) -> bool:
    """Whether a decoded cell holds bytes its file's encoding could not decode."""
    return _MARKED.search(value) is not None


def printable(value: str) -> str:
    """A decoded cell as it can be written back out: undecodable bytes shown as ``\\xNN``."""
    if not has_bad_bytes(value):
        return value
    return _MARKED.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", value)


def neutralise(value: str) -> str:
    """Make a cell inert in a spreadsheet: one that starts like a formula gets a ``'``."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unneutralise(value: str) -> str:
    """Undo ``neutralise`` on import, so that an exported file imports as it was."""
    if value.startswith("'") and value[1:2] and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def writer(handle: IO[str]) -> Any:  # noqa: ANN401 (csv's writer type is private)
    """A CSV writer (comma, CRLF, minimal quoting) for files Tocsin hands out."""
    return csv.writer(handle, lineterminator="\r\n")
