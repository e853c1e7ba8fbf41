"""The SMTP/LMTP receiver the MTA hands bounces, complaints and mailto unsubscribes to.

One port speaks both: a client that says EHLO or HELO gets SMTP, one that says LHLO gets
LMTP (one reply per recipient after the data). Only ``bounces+TOKEN@``, ``unsubscribe@`` and
``abuse@`` the bounce domain are accepted (anything else is refused at RCPT, so the MTA
bounces it and nothing is stored). A message is stored and committed (``intake.accept``)
before the 250 goes out: if the process dies after that, the message is in the database and
the worker processes it; if it dies before, the MTA never heard 250 and tries again. When
the database cannot be written the reply is 451 and the MTA keeps the mail.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax
from flask import Flask

from app.addresses import bounce_domain
from app.catcher import run_until_interrupted
from app.inbound import intake
from app.inbound.routes import route

log = logging.getLogger(__name__)


class DualProtocol(SMTP):
    """SMTP, plus LMTP's LHLO: after it, the session is an LMTP one."""

    async def smtp_EHLO(self, arg: str) -> None:
        """SMTP's greeting: the session is (again) an SMTP one."""
        if self.session is not None:
            self.session.lmtp = False  # type: ignore[attr-defined]
        await super().smtp_EHLO(arg)

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        """The LMTP greeting (RFC 2033): EHLO's answer, and one reply per recipient later."""
        await super().smtp_EHLO(arg)
        if self.session is not None and self.session.host_name:
            self.session.lmtp = True  # type: ignore[attr-defined]


class ReturnHandler:
    """Accept mail for our addresses only; store it before answering."""

    def __init__(self, app: Flask, source: str = "smtp") -> None:
        self.app = app
        self.domain = bounce_domain(app.config)
        self.limit = int(app.config.get("INBOUND_MAX_BYTES") or intake.DEFAULT_MAX_BYTES)
        # Database writes are blocking: they run on a few threads, off the event loop.
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="inbound-store")

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if route(address, self.domain) is None:
            log.info("refused mail for %s: not an address Tocsin reads", address)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        lmtp = getattr(session, "lmtp", False)
        reply = await asyncio.get_running_loop().run_in_executor(
            self.pool, self.store, envelope, "lmtp" if lmtp else "smtp"
        )
        return "\r\n".join([reply] * len(envelope.rcpt_tos)) if lmtp else reply

    def store(self, envelope: Envelope, source: str) -> str:
        """Store one message; return the reply for it."""
        raw = envelope.original_content or b""
        try:
            with self.app.app_context():
                accepted = intake.accept(
                    raw,
                    source=source,
                    envelope_from=envelope.mail_from or "",
                    recipients=list(envelope.rcpt_tos),
                )
        except intake.TooLarge as exc:
            log.warning("refused a message from %s: %s", envelope.mail_from, exc)
            return "552 5.3.4 Message too big"
        except Exception:  # the database is away: the MTA keeps the mail and tries again
            log.exception("could not store a message from %s; answered 451", envelope.mail_from)
            return "451 4.3.0 Cannot store the message now; try again later"
        return f"250 2.0.0 Stored as {accepted.id}"


class ReceiverController(Controller):
    """A receiver on ``host:port`` in a thread of its own (``start``/``stop``)."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.app = app
        handler = ReturnHandler(app)
        super().__init__(
            handler,
            hostname=host,
            port=port,
            server_hostname=str(app.config.get("HELO_NAME") or socket.getfqdn()),
            data_size_limit=handler.limit,
            decode_data=False,
            ident="Tocsin inbound",
        )

    def factory(self) -> SMTP:
        return DualProtocol(self.handler, **self.SMTP_kwargs)


def serve_forever(app: Flask, host: str, port: int) -> None:
    """Run the receiver until interrupted."""
    controller = ReceiverController(app, host, port)
    controller.start()
    run_until_interrupted(controller)
