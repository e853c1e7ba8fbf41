"""SMTP client side: server settings, persistent connections, and what each reply means.

MAIL, RCPT and DATA get a reply each, so the failing phase is known: a failure before the
final dot is safe to retry; a lost reply after it is ``unknown`` (the message may have
arrived). When the server offers PIPELINING (RFC 2920) the three commands go out in one
write, which saves two round trips a message without losing that knowledge; and the next
message's three can follow a final dot in the same write (message content may open a
group), which saves one more.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

from app.mailservers import SmtpSettings

_LEADING_DOT = re.compile(rb"(?m)^\.")
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 4xx, or a connection problem before the final dot
    BOUNCE = "bounce"  # 5.1.x: the address does not exist; suppress it
    PERMANENT = "permanent"  # other 5xx for this message
    POLICY = "policy"  # 5.7.x: sender, auth or policy; stop the campaign
    UNKNOWN = "unknown"  # the reply to the final dot was lost
    THROTTLED = "throttled"  # no sending slot before the batch's lease ends; nothing was sent


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reply: str
    unreachable: bool = False  # no session could be opened at all


def classify(code: int, message: bytes | str) -> Result:
    """Map an SMTP reply to an outcome (RFC 5321 codes, RFC 3463 enhanced codes)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    text = " ".join(text.split())
    reply = f"{code} {text}".strip()
    if 200 <= code < 300:
        return Result(Outcome.SENT, reply)
    if 400 <= code < 500:
        return Result(Outcome.RETRY, reply)
    enhanced = _ENHANCED.match(text)
    if enhanced and enhanced.group(2) == "7":
        return Result(Outcome.POLICY, reply)
    if enhanced and enhanced.group(2) == "1":
        return Result(Outcome.BOUNCE, reply)
    return Result(Outcome.PERMANENT, reply)


def _angle(address: str) -> str:
    """Return ``<address>``; refuse what could break out of the SMTP command."""
    if any(c in address for c in "\r\n<> \0"):
        raise ValueError(f"not a bare address: {address!r}")
    return f"<{address}>"


class Connection:
    """One persistent SMTP session, reopened when it breaks or has carried enough mail."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._pipelining = False
        self._sent_on_connection = 0
        # Between start() and finish() the server is in DATA: only hanging up ends that safely.
        self._in_data = False
        # The envelope sent along with the last final dot, whose replies are still unread.
        self._announced: tuple[str, str] | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.scheme == "smtps":
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        # The final dot is a small write after a large one: without NODELAY, Nagle's
        # algorithm and the server's delayed ACK hold it back for tens of milliseconds.
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if s.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if s.username:
            smtp.login(s.username, s.password or "")
        self._pipelining = smtp.has_extn("pipelining")
        self._sent_on_connection = 0
        return smtp

    def close(self) -> None:
        """Say QUIT if possible and forget the session."""
        if self._in_data or self._announced is not None:
            self._drop()  # a QUIT now would be message content, or would follow a DATA
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
        self._smtp = None

    def send(self, envelope_from: str, recipient: str, data: bytes) -> Result:
        """Send one message and say what became of it; never raises for SMTP trouble."""
        refusal = self.start(envelope_from, recipient, data)
        return refusal if refusal is not None else self.finish()

    def start(self, envelope_from: str, recipient: str, data: bytes) -> Result | None:
        """Send everything but the final dot; return the refusal, or None when ready.

        Between ``start`` and ``finish`` nothing is delivered yet: ``abort`` drops the
        session and the server forgets the message. When ``finish`` already announced this
        envelope, only its replies are read; another envelope means a new session.
        """
        announced, self._announced = self._announced, None
        if announced is not None and announced != (envelope_from, recipient):
            self._drop()  # the server expects the announced message's data
            announced = None
        try:
            if self._smtp is None or self._sent_on_connection >= self.settings.max_per_connection:
                self.close()
                self._smtp = self._open()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.RETRY, f"cannot reach {self.settings.name}: {exc}", True)
        try:
            refusal = self._envelope(self._smtp, envelope_from, recipient, announced is not None)
            if refusal is not None:
                return refusal
            # Dot-stuffing; our own messages never need it (base64 bodies), so look first.
            payload = _LEADING_DOT.sub(b"..", data) if b"\n." in data or data[:1] == b"." else data
            self._in_data = True
            self._smtp.send(payload if payload.endswith(b"\r\n") else payload + b"\r\n")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.RETRY, f"connection lost before the end of data: {exc}")
        return None

    def finish(self, then: tuple[str, str] | None = None) -> Result:
        """Send the final dot and read the verdict on the message.

        ``then``, the next message's (envelope sender, recipient), goes out in the same write
        when the server pipelines; the next ``start`` with that envelope reads its replies.
        """
        assert self._smtp is not None, "finish() follows a successful start()"
        self._in_data = False
        following = self._announcement(then)
        try:
            self._smtp.send(b".\r\n" + following)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.RETRY, f"connection lost before the end of data: {exc}")
        try:
            code, message = self._smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.UNKNOWN, f"no reply after the end of data: {exc}")
        self._sent_on_connection += 1
        if following:
            self._announced = then
        return classify(code, message)

    def _announcement(self, then: tuple[str, str] | None) -> bytes:
        """The commands to send after a final dot, when they may go out before its reply."""
        if then is None or not self._pipelining:
            return b""
        if self._sent_on_connection + 1 >= self.settings.max_per_connection:
            return b""  # this session ends after the message: start() opens the next one
        try:
            return _commands(*then).encode("ascii")
        except (ValueError, UnicodeEncodeError):
            return b""  # start() reports the bad address as it always has

    def settle(self) -> None:
        """Hang up if a message was left unfinished or an envelope unanswered (a batch ends)."""
        if self._in_data or self._announced is not None:
            self._drop()

    def abort(self) -> None:
        """Hang up in the middle of DATA: the server discards the unfinished message."""
        self._drop()

    def _envelope(
        self, smtp: smtplib.SMTP, envelope_from: str, recipient: str, announced: bool = False
    ) -> Result | None:
        """Issue MAIL, RCPT and DATA (or read the replies to the announced ones); return the
        refusal, or None once the server said 354."""
        commands = [f"MAIL FROM:{_angle(envelope_from)}", f"RCPT TO:{_angle(recipient)}", "DATA"]
        if announced:
            replies = [smtp.getreply() for _ in commands]
        elif self._pipelining:
            smtp.send(_commands(envelope_from, recipient))
            replies = [smtp.getreply() for _ in commands]
        else:
            replies = []
            for command in commands:
                replies.append(smtp.docmd(command))
                if replies[-1][0] not in (250, 251, 354):
                    break
        for code, message in replies[:-1]:
            if code not in (250, 251):
                return self._refused(smtp, replies, classify(code, message))
        code, message = replies[-1]
        if code != 354:
            return self._refused(smtp, replies, classify(code, message))
        return None

    def _refused(
        self, smtp: smtplib.SMTP, replies: list[tuple[int, bytes]], result: Result
    ) -> Result:
        if replies[-1][0] == 354:  # a server that took DATA after refusing: end it empty
            smtp.send(".\r\n")
            smtp.getreply()
        smtp.rset()
        return result

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None
        self._in_data = False
        self._announced = None


def _commands(envelope_from: str, recipient: str) -> str:
    """MAIL, RCPT and DATA for one message, as one pipelined group."""
    return f"MAIL FROM:{_angle(envelope_from)}\r\nRCPT TO:{_angle(recipient)}\r\nDATA\r\n"


_connections: dict[SmtpSettings, Connection] = {}


def connection_to(settings: SmtpSettings) -> Connection:
    """Return this process's persistent connection to one server."""
    if settings not in _connections:
        _connections[settings] = Connection(settings)
    return _connections[settings]


def settle_all() -> None:
    """Hang up every connection left mid-message or with an unanswered envelope."""
    for connection in _connections.values():
        connection.settle()


def close_all() -> None:
    """Close every connection this process holds (worker shutdown)."""
    for connection in _connections.values():
        connection.close()
    _connections.clear()
