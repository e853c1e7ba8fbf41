"""Polling the hosted mailbox that bounces land in (``TOCSIN_BOUNCE_MAILBOX``), over IMAP or
POP3 with TLS: each message is stored in the inbound queue (``intake``, committed) and only
then moved or deleted on the server, so nothing is lost if a poll stops half way, and what
it fetches again is stored once.

The URL's forms (the README says more)::

    imaps://USER:PASSWORD@HOST:993/INBOX?processed=Processed   stored mail moved there
    imaps://USER:PASSWORD@HOST/INBOX                           stored mail deleted
    imap://USER:PASSWORD@HOST/INBOX?starttls=1
    pop3s://USER:PASSWORD@HOST:995                             stored mail deleted
    pop3://USER:PASSWORD@HOST?starttls=1

``insecure=1`` allows imap:// or pop3:// without TLS; ``cafile=PATH`` trusts a private CA
instead of the system's; ``refused=FOLDER`` (IMAP) is where mail too large to store goes.
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from app.errors import ConfigError
from app.inbound import mailbox_imap, mailbox_pop3
from app.inbound.mailbox_settings import (
    SETTING,
    MailboxError,
    MailboxSettings,
    PollResult,
    parse,
)

__all__ = ["MailboxError", "PollResult", "poll", "poll_configured"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 500


@contextmanager
def _reported(settings: MailboxSettings) -> Iterator[None]:
    """Turn what the network, TLS and the protocol libraries raise into a ``MailboxError``
    that names the mailbox; the password is cut out of whatever the server said."""
    try:
        yield
    except MailboxError as exc:
        message = str(exc)
    except ssl.SSLCertVerificationError as exc:
        message = (
            f"{settings.where}: the server's TLS certificate could not be verified "
            f"({exc.verify_message}); for a private CA add &cafile=PATH to {SETTING}"
        )
    except ssl.SSLError as exc:
        message = f"{settings.where}: TLS failed ({exc.reason or exc})"
    except TimeoutError:
        message = f"{settings.where}: the server did not answer in time"
    except OSError as exc:
        message = f"{settings.where}: cannot reach the server ({exc.strerror or exc})"
    except (imaplib.IMAP4.error, poplib.error_proto, EOFError) as exc:
        message = f"{settings.where}: the server answered: {exc}"
    else:
        return
    if settings.password:
        message = message.replace(settings.password, "…")
    raise MailboxError(message) from None


def poll(url: str, limit: int = DEFAULT_LIMIT) -> PollResult:
    """Fetch up to ``limit`` messages from the mailbox, store each (committed), then move or
    delete it on the server. Mail too large to store stays there, counted as refused.
    Raise ``ConfigError`` for a bad URL and ``MailboxError`` when the poll fails."""
    settings = parse(url)
    with _reported(settings):
        if settings.protocol == "imap":
            result = mailbox_imap.poll(settings, limit)
        else:
            result = mailbox_pop3.poll(settings, limit)
    if result.fetched:
        log.info(
            "%s: %s fetched, %s stored, %s already stored, %s refused",
            settings.where,
            result.fetched,
            result.stored,
            result.duplicates,
            result.refused,
        )
    return result


def configured() -> str:
    """The bounce mailbox URL, or ``""`` when none is configured."""
    return str(current_app.config.get("BOUNCE_MAILBOX") or "").strip()


def poll_configured() -> PollResult | None:
    """Poll the configured mailbox, if any. A failure is logged in one line (naming the
    mailbox, never the password) and returns ``None``: the next poll tries again."""
    url = configured()
    if not url:
        return None
    try:
        return poll(url)
    except (ConfigError, MailboxError) as exc:
        log.error("the bounce mailbox was not polled: %s", exc)
        return None
