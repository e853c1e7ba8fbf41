"""SMTP client side: server settings, persistent connections, and what each reply means.

MAIL, RCPT and DATA get a reply each, so the failing phase is known: a failure before the
final dot is safe to retry; a lost reply after it is ``unknown`` (the message may have
arrived). When the server offers PIPELINING (RFC 2920) the three commands go out in one
write, which saves two round trips a message without losing that knowledge; and the next
message's three can follow a final dot in the same write (message content may open a
group), which saves one more.

A relay closes sessions left idle (its timeout, a restart). A session idle for more than
``IDLE_PROBE_SECONDS`` is probed before reuse (a non-blocking peek for EOF, then NOOP: one
round trip, and only after idleness); and when a reused session turns out closed while the
envelope is sent, the message starts again at once on a fresh one. Neither spends an
attempt: nothing of the message was sent. Only a failure after the envelope was accepted is
the message's own.
"""

from __future__ import annotations

import re
import select
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum

from app.audience.bounces import judge
from app.mailservers import SmtpSettings
from app.models import ReturnKind

_LEADING_DOT = re.compile(rb"(?m)^\.")
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
# A session unused for longer than this is probed before it carries a message.
IDLE_PROBE_SECONDS = 3.0
# What a session closed by the other end looks like while the envelope is sent.
_CLOSED = (
    smtplib.SMTPServerDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class ReplyKind(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 4xx, or a connection problem before the final dot
    BOUNCE = "bounce"  # a hard bounce (5.1.x, 5.2.1: ``bounces.judge``): suppress it
    PERMANENT = "permanent"  # other 5xx for this message
    POLICY = "policy"  # 5.7.x: sender, auth or policy; stop the campaign
    UNKNOWN = "unknown"  # the reply to the final dot was lost
    THROTTLED = "throttled"  # no sending slot before the batch's lease ends; nothing was sent


@dataclass(frozen=True)
class Result:
    outcome: ReplyKind
    reply: str
    unreachable: bool = False  # no session could be opened at all


def classify(code: int, message: bytes | str) -> Result:
    """Map an SMTP reply to an outcome (RFC 5321 codes, RFC 3463 enhanced codes)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    text = " ".join(text.split())
    reply = f"{code} {text}".strip()
    if 200 <= code < 300:
        return Result(ReplyKind.SENT, reply)
    if 400 <= code < 500:
        return Result(ReplyKind.RETRY, reply)
    enhanced = _ENHANCED.match(text)
    # The same rules as a bounce that comes back later (``app.audience.bounces``).
    kind = judge(".".join(enhanced.groups())) if enhanced else ReturnKind.SOFT
    if kind is ReturnKind.POLICY:
        return Result(ReplyKind.POLICY, reply)
    if kind is ReturnKind.HARD:
        return Result(ReplyKind.BOUNCE, reply)
    return Result(ReplyKind.PERMANENT, reply)


def _angle(address: str) -> str:
    """Return ``<address>``; refuse what could break out of the SMTP command."""
    if any(c in address for c in "\r\n<> \0"):
        raise ValueError(f"not a bare address: {address!r}")
    return f"<{address}>"


class SessionClosed(Exception):
    """The server closed the session (EOF, reset, or 421 to the envelope) before it took
    anything of the message."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


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
        self._used_at = 0.0  # time.monotonic() of the session's last reply

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.scheme == "smtps":
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=s.helo, timeout=s.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.helo, timeout=s.timeout)
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
        self._used_at = time.monotonic()
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
        for _ in range(2):
            try:
                reused = self._ready(announced is not None)
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                return Result(ReplyKind.RETRY, f"cannot reach {self.settings.name}: {exc}", True)
            assert self._smtp is not None
            try:
                refusal = self._envelope(
                    self._smtp, envelope_from, recipient, announced is not None
                )
                break
            except (SessionClosed, *_CLOSED) as exc:
                self._drop()
                announced = None
                if not reused:
                    reply = exc.reply if isinstance(exc, SessionClosed) else str(exc)
                    return Result(ReplyKind.RETRY, f"connection lost before the envelope: {reply}")
                # A reused session the relay had closed: a fresh one, no attempt spent.
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                return Result(ReplyKind.RETRY, f"connection lost before the end of data: {exc}")
        if refusal is not None:
            return refusal
        try:
            # Dot-stuffing; our own messages never need it (base64 bodies), so look first.
            payload = _LEADING_DOT.sub(b"..", data) if b"\n." in data or data[:1] == b"." else data
            assert self._smtp is not None  # the envelope above went out on it
            self._in_data = True
            self._smtp.send(payload if payload.endswith(b"\r\n") else payload + b"\r\n")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(ReplyKind.RETRY, f"connection lost before the end of data: {exc}")
        return None

    def _ready(self, announced: bool) -> bool:
        """Open a session unless a live one is at hand; return whether it is reused. (An
        announced envelope is never probed: the server takes what follows it as data.)"""
        if self._smtp is not None:
            if self._sent_on_connection >= self.settings.max_per_connection:
                self.close()
            elif (
                not announced
                and time.monotonic() - self._used_at > IDLE_PROBE_SECONDS
                and not self._alive()
            ):
                self._drop()  # the relay let it go while it sat idle
        if self._smtp is not None:
            return True
        self._smtp = self._open()
        return False

    def _alive(self) -> bool:
        """Whether an idle session still works: no EOF or unasked reply (such as a 421 sent
        before closing) waiting to be read, and NOOP answered 250."""
        assert self._smtp is not None
        sock = self._smtp.sock
        try:
            # Readable now means EOF or bytes nobody asked for: either way the session is over.
            # (Not under TLS, where a record such as a session ticket may wait unasked.)
            plain = sock if not isinstance(sock, ssl.SSLSocket) else None
            if plain is not None and select.select([plain], [], [], 0)[0]:
                return False
            code, _ = self._smtp.noop()
        except (smtplib.SMTPException, OSError):
            return False
        self._used_at = time.monotonic()
        return code == 250

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
            return Result(ReplyKind.RETRY, f"connection lost before the end of data: {exc}")
        try:
            code, message = self._smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(ReplyKind.UNKNOWN, f"no reply after the end of data: {exc}")
        self._used_at = time.monotonic()
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
        if replies[0][0] == 421:  # "closing the transmission channel": nothing was taken
            raise SessionClosed(classify(*replies[0]).reply)
        self._used_at = time.monotonic()
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
        try:
            if replies[-1][0] == 354:  # a server that took DATA after refusing: end it empty
                smtp.send(".\r\n")
                smtp.getreply()
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()  # the refusal stands; the session it came on is gone
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
