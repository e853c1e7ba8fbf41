"""What ``TOCSIN_BOUNCE_MAILBOX`` says (which server and account, how the connection is
secured, where stored mail goes), the error of a poll that failed, and its tally.

The password is kept out of every message here: errors and log lines name the mailbox by
``MailboxSettings.where``, which leaves it out.
"""

from __future__ import annotations

import enum
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from app.errors import ConfigError, TocsinError
from app.inbound import intake

SETTING = "TOCSIN_BOUNCE_MAILBOX"
# protocol, security without options, default port
_SCHEMES = {
    "imaps": ("imap", True, 993),
    "imap": ("imap", False, 143),
    "pop3s": ("pop3", True, 995),
    "pop3": ("pop3", False, 110),
}
_OPTIONS = ("cafile", "insecure", "processed", "refused", "starttls")
_YES, _NO = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class MailboxError(TocsinError):
    """The mailbox could not be polled (unreachable, TLS, login, a command refused); the
    message names the mailbox and what went wrong, never the password."""


class Security(enum.StrEnum):
    TLS = "tls"  # imaps://, pop3s://
    STARTTLS = "starttls"  # imap://, pop3:// with ?starttls=1
    NONE = "none"  # imap://, pop3:// with ?insecure=1 only


@dataclass(frozen=True)
class MailboxSettings:
    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    security: Security = Security.TLS
    folder: str = "INBOX"
    processed: str = ""  # IMAP: move stored mail here; empty: delete it
    refused: str = ""  # IMAP: move mail too large to store here; empty: flag it
    cafile: str = ""

    @property
    def protocol(self) -> str:
        return _SCHEMES[self.scheme][0]

    @property
    def where(self) -> str:
        """The mailbox as people may read it: no password."""
        folder = f"/{self.folder}" if self.protocol == "imap" else ""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}{folder}"

    def tls_context(self) -> ssl.SSLContext:
        """Verify the server against the system's CAs (or ``cafile``), hostname included."""
        return ssl.create_default_context(cafile=self.cafile or None)


@dataclass(frozen=True)
class PollResult:
    """What one poll did: each message it took up was stored, a duplicate, or refused."""

    fetched: int
    stored: int
    duplicates: int
    refused: int


@dataclass
class Tally:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0

    def take(self, raw: bytes, source: str) -> bool:
        """Store a fetched message (committed); whether it may now leave the server."""
        try:
            accepted = intake.accept(raw, source=source, recipients=[])
        except intake.TooLarge:
            self.refused += 1
            return False
        if accepted.duplicate:
            self.duplicates += 1
        else:
            self.stored += 1
        return True

    def result(self) -> PollResult:
        fetched = self.stored + self.duplicates + self.refused
        return PollResult(fetched, self.stored, self.duplicates, self.refused)


def _flag(options: dict[str, str], name: str) -> bool:
    value = options.get(name, "0").strip().lower()
    if value not in _YES | _NO:
        raise ConfigError(f"{SETTING}: {name} must be 1 or 0, not {value!r}")
    return value in _YES


def _folder(name: str, option: str) -> str:
    # Quotes and backslashes would need escaping; * and % are LIST's wildcards.
    if not name.isascii() or not name.isprintable() or set(name) & set('"\\*%'):
        raise ConfigError(
            f"{SETTING}: the {option} folder must be a plain ASCII name without quotes, "
            f"backslashes, * or %, not {name!r}"
        )
    return name


def _security(scheme: str, options: dict[str, str]) -> Security:
    starttls, insecure = _flag(options, "starttls"), _flag(options, "insecure")
    if _SCHEMES[scheme][1]:
        if starttls or insecure:
            raise ConfigError(
                f"{SETTING}: {scheme}:// is TLS from the start; starttls and insecure apply "
                f"only to {scheme[:-1]}://"
            )
        return Security.TLS
    if starttls and insecure:
        raise ConfigError(f"{SETTING}: give starttls=1 or insecure=1, not both")
    if starttls:
        return Security.STARTTLS
    if insecure:
        return Security.NONE
    raise ConfigError(
        f"{SETTING}: {scheme}:// would send the password in clear text: use {scheme}s://, "
        f"add ?starttls=1, or ?insecure=1 to allow it on a network you trust"
    )


def _options(query: str, scheme: str, folder: str) -> dict[str, str]:
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(
            f"{SETTING}: unknown option {', '.join(unknown)} (known: {', '.join(_OPTIONS)})"
        )
    if _SCHEMES[scheme][0] == "pop3" and (
        folder or options.get("processed") or options.get("refused")
    ):
        raise ConfigError(
            f"{SETTING}: POP3 has no folders: {scheme}:// takes no /FOLDER, "
            "processed or refused (stored mail is deleted)"
        )
    cafile = options.get("cafile", "")
    if cafile and not (Path(cafile).is_file() and os.access(cafile, os.R_OK)):
        raise ConfigError(f"{SETTING}: cafile {cafile} is not a readable file")
    return options


def _scheme(url: SplitResult) -> tuple[str, int]:
    scheme = url.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"{SETTING} must start with imaps://, imap://, pop3s:// or pop3://, "
            f"not {scheme or 'nothing'}://"
        )
    try:
        return scheme, url.port or _SCHEMES[scheme][2]
    except ValueError:
        raise ConfigError(f"{SETTING}: the port must be a number from 1 to 65535") from None


def parse(url: str) -> MailboxSettings:
    """Read a mailbox URL; raise ``ConfigError`` naming the setting, never the password."""
    parts = urlsplit(url.strip())
    scheme, port = _scheme(parts)
    if not parts.hostname or not parts.username or parts.password is None:
        raise ConfigError(
            f"{SETTING} needs a server, an account and its password: {scheme}://USER:PASSWORD@HOST"
        )
    folder = unquote(parts.path.strip("/"))
    options = _options(parts.query, scheme, folder)
    return MailboxSettings(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password),
        security=_security(scheme, options),
        folder=_folder(folder or "INBOX", "mailbox"),
        processed=_folder(options.get("processed", ""), "processed"),
        refused=_folder(options.get("refused", ""), "refused"),
        cafile=options.get("cafile", ""),
    )
