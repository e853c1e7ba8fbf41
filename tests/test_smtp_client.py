"""The SMTP client against a real server whose replies we choose: each reply, its outcome."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.mailservers import SmtpSettings
from tests.support.smtp import free_port
from worker.smtp import Connection, Outcome

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\n.leading dot\r\nbody\r\n"


class ScriptedHandler:
    """Answers RCPT and DATA by the recipient's local part: ``rcpt-451@…``, ``data-550@…``."""

    def __init__(self) -> None:
        self.delivered: list[bytes] = []

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


@pytest.fixture()
def server() -> Iterator[tuple[ScriptedHandler, Connection]]:
    handler = ScriptedHandler()
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
        ("ok@example.org", Outcome.SENT, "250 2.0.0 queued as 1234"),
        ("rcpt-451@example.org", Outcome.RETRY, "451 4.3.0 try later"),
        ("rcpt-452@example.org", Outcome.RETRY, "452 4.2.2 mailbox full"),
        ("rcpt-550@example.org", Outcome.BOUNCE, "550 5.1.1 no such user"),
        ("rcpt-5726@example.org", Outcome.POLICY, "550 5.7.26 unauthenticated sender"),
        ("data-421@example.org", Outcome.RETRY, "421 4.7.0 closing"),
        ("data-554@example.org", Outcome.PERMANENT, "554 5.6.0 content rejected"),
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
    assert result.outcome is Outcome.RETRY
