"""The SMTP client against a real server whose replies we choose: each reply, its outcome."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.delivery.smtp import Connection, ReplyKind
from app.mailservers import SmtpSettings
from tests.support.smtp import free_port

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\n.leading dot\r\nbody\r\n"


class ScriptedHandler:
    """Answers RCPT and DATA by the recipient's local part: ``rcpt-451@…``, ``data-550@…``."""

    def __init__(self) -> None:
        self.delivered: list[bytes] = []
        self.sessions = 0

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,  # noqa: N802
        options: list[str],
    ) -> str:
        local = address.split("@")[0]
        if local.startswith("rcpt-"):
            return {
                "451": "451 4.3.0 try later",
                "452": "452 4.2.2 mailbox full",
                "550": "550 5.1.1 no such user",
                "5726": "550 5.7.26 unauthenticated sender",
            }[local[5:]]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        local = envelope.rcpt_tos[0].split("@")[0]
        if local == "data-421":
            return "421 4.7.0 closing"
        if local == "data-554":
            return "554 5.6.0 content rejected"
        self.delivered.append(envelope.content)
        return "250 2.0.0 queued as 1234"


class PipeliningHandler(ScriptedHandler):
    """The same answers, from a server that offers PIPELINING (RFC 2920)."""

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.sessions += 1
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture(params=["one command at a time", "pipelining"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[ScriptedHandler, Connection]]:
    handler = PipeliningHandler() if request.param == "pipelining" else ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    connection = Connection(SmtpSettings("smtp", "127.0.0.1", port, timeout=5))
    yield handler, connection
    connection.close()
    controller.stop()


@pytest.mark.parametrize(
    ("recipient", "outcome", "reply"),
    [
        ("ok@example.org", ReplyKind.SENT, "250 2.0.0 queued as 1234"),
        ("rcpt-451@example.org", ReplyKind.RETRY, "451 4.3.0 try later"),
        ("rcpt-452@example.org", ReplyKind.RETRY, "452 4.2.2 mailbox full"),
        ("rcpt-550@example.org", ReplyKind.BOUNCE, "550 5.1.1 no such user"),
        ("rcpt-5726@example.org", ReplyKind.POLICY, "550 5.7.26 unauthenticated sender"),
        ("data-421@example.org", ReplyKind.RETRY, "421 4.7.0 closing"),
        ("data-554@example.org", ReplyKind.PERMANENT, "554 5.6.0 content rejected"),
    ],
)
def test_each_reply_becomes_the_right_outcome(server, recipient, outcome, reply):
    handler, connection = server
    result = connection.send("bounces@example.org", recipient, MESSAGE)
    assert (result.outcome, result.reply) == (outcome, reply)


def test_one_connection_carries_many_messages_and_survives_refusals(server):
    handler, connection = server
    for recipient in ("ok@example.org", "rcpt-550@example.org", "ok2@example.org"):
        connection.send("bounces@example.org", recipient, MESSAGE)
    assert len(handler.delivered) == 2
    assert handler.delivered[0].endswith(b".leading dot\r\nbody\r\n"), "dot-stuffing undone"


def test_no_server_listening_is_a_retry_not_a_crash():
    connection = Connection(SmtpSettings("smtp", "127.0.0.1", free_port(), timeout=2))
    result = connection.send("bounces@example.org", "ok@example.org", MESSAGE)
    assert result.outcome is ReplyKind.RETRY


@pytest.fixture()
def pipelining() -> Iterator[tuple[ScriptedHandler, Connection]]:
    handler = PipeliningHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    connection = Connection(SmtpSettings("smtp", "127.0.0.1", port, timeout=5))
    yield handler, connection
    connection.close()
    controller.stop()


def test_the_next_envelope_rides_with_the_final_dot_on_one_session(pipelining):
    handler, connection = pipelining
    assert connection.start("bounces@example.org", "ok1@example.org", MESSAGE) is None
    first = connection.finish(("bounces@example.org", "rcpt-550@example.org"))
    refused = connection.start("bounces@example.org", "rcpt-550@example.org", MESSAGE)
    assert connection.start("bounces@example.org", "ok3@example.org", MESSAGE) is None
    third = connection.finish(("bounces@example.org", "ok4@example.org"))
    assert connection.start("bounces@example.org", "ok4@example.org", MESSAGE) is None
    fourth = connection.finish()
    assert [first.outcome, refused.outcome, third.outcome, fourth.outcome] == [
        ReplyKind.SENT,
        ReplyKind.BOUNCE,
        ReplyKind.SENT,
        ReplyKind.SENT,
    ]
    assert len(handler.delivered) == 3 and handler.sessions == 1


def test_an_announced_envelope_never_used_delivers_nothing(pipelining):
    handler, connection = pipelining
    announced = ("bounces@example.org", "ok2@example.org")
    assert connection.start("bounces@example.org", "ok1@example.org", MESSAGE) is None
    assert connection.finish(announced).outcome is ReplyKind.SENT
    # Another message instead: the session that waits for ok2's data is dropped.
    assert connection.send("bounces@example.org", "ok3@example.org", MESSAGE).outcome is (
        ReplyKind.SENT
    )
    assert connection.start("bounces@example.org", "ok4@example.org", MESSAGE) is None
    assert connection.finish(announced).outcome is ReplyKind.SENT
    connection.close()  # waiting for ok2 again: hangs up instead of a QUIT inside DATA
    assert len(handler.delivered) == 3 and handler.sessions == 2
