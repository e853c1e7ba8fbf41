"""Malformed files of every kind, dropped into a Maildir as they are."""

from __future__ import annotations

import os
from pathlib import Path

PLAIN = b"From: news@example.org\r\nSubject: Hello\r\n\r\nBody\r\n"

MALFORMED = {
    # What the catcher crashed on: an encoded line break typed as a name.
    "encoded-name": b'To: "=?UTF-8?Q?=0A?=Bcc: victim@example.net" <ann@example.org>\r\n'
    b"Subject: Week of action\r\n\r\nHello\r\n",
    "encoded-name-unquoted": b"To: =?UTF-8?Q?=0A?=Bcc: <ann@example.org>\r\n"
    b"Cc: =?utf-8?b?Cg==?= <x@example.org>, =?x-no-such?q?A?= <y@example.org>\r\n\r\nHi\r\n",
    "encoded-local-part": b"To: Ann <=?utf-8?q?=0A?=@example.org>\r\nSubject: x\r\n\r\nHi\r\n",
    "subject-line-break": b"To: ann@example.org\r\n"
    b"Subject: =?utf-8?q?A=0D=0ABcc:_x?=\r\n\r\nHi\r\n",
    "unknown-charset": b"To: ann@example.org\r\nSubject: =?x-unknown?q?abc?=\r\n"
    b"Content-Type: text/plain; charset=x-unknown\r\n\r\nBody\r\n",
    "eight-bit-headers": b"To: \xc9lodie <\xe9@example.org>\r\nSubject: caf\xe9 \xff\xfe\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>caf\xe9</p>\r\n",
    "bad-base64": b"To: ann@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n",
    "bad-multipart": b"To: ann@example.org\r\nContent-Type: multipart/alternative\r\n\r\n"
    b"--x\r\nContent-Type: text/plain\r\n\r\nno boundary declared\r\n",
    "unfinished-multipart": b'To: ann@example.org\r\nContent-Type: multipart/mixed; boundary="b"'
    b"\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-7\r\n"
    b"Content-Transfer-Encoding: x-strange\r\n\r\n+ADw-p+AD4-\r\n",
    "broken-header-lines": b"To ann@example.org\r\n: no name\r\nSubject\r\n\tfolded first\r\n"
    b"Date: yesterday-ish\r\nMessage-ID: <<<>>>\r\n\r\nbody\r\n",
    "headers-only": b"To: ann@example.org\r\nSubject: no body\r\n",
    "nul-and-controls": b"To: a\x00nn@example.org\r\n"
    b"Subject: \x00\x07\x1b[31m red\r\n\r\n\x00\x01\x02",
    "nested-broken": b"To: ann@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
    "empty": b"",
    "binary-junk": bytes(range(256)) * 40,
    "not-a-message": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000),
}


def drop(folder: Path, files: dict[str, bytes]) -> None:
    """Place files in the Maildir as they are, as if anything had written them."""
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / "new" / f"1700000000.{name}").write_bytes(data)
    (folder / "cur" / "1700000001.flagged:2,S").write_bytes(PLAIN)
    (folder / "new" / "a-folder").mkdir()  # not a message file at all
    (folder / "new" / ":2,S").write_bytes(PLAIN)  # no key to link to: not listed
