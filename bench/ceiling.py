"""Measure the delivery ceiling: how fast plain ``smtplib`` can hand ~25 KB messages to a server.

Messages are built beforehand with ``emails.mime.build_message`` (a ~20 KB HTML part and a
~5 KB text part, as the worker sends them), then sent with one persistent ``smtplib.SMTP``
connection (``sendmail``), and with two such connections in two processes at once. The
server is ``bench.counting_smtp`` (a sink that costs far less CPU than the client), and, for
comparison, aiosmtpd's ``Controller`` in its own process.

Run: ``python -m bench.ceiling --messages 5000``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import signal
import smtplib
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from typing import Any

from bench.counting_smtp import ServerCounter, cpu_seconds, start_server, stop_server
from emails.mime import build_message, format_address

SENDER = "Tocsin Bench <news@bench.example.org>"
ENVELOPE_FROM = "bounces@bench.example.org"
HOST = "127.0.0.1"

_TOPICS = [
    ("Assemblée générale du printemps", "Rendez-vous à la Maison des associations, salle 3."),
    ("Neues aus der Ortsgruppe Köln", "Wir treffen uns jeden zweiten Donnerstag im Monat."),
    ("Reforestation weekend", "Bring gloves, water and a packed lunch; tools are provided."),
    ("Ενημέρωση για τη συνέλευση", "Η επόμενη συνάντηση θα γίνει στο κέντρο της πόλης."),
    ("Campaña de recogida de firmas", "Necesitamos voluntarias y voluntarios para el sábado."),
    ("Repair café: results", "We fixed 41 of 57 objects brought in, mostly lamps and radios."),
]

_LOREM = (
    "Our network keeps growing: new groups joined this season, and the working groups on "
    "housing, transport and local food published their first reports. Thank you to everyone "
    "who gave an evening, a weekend or a few euros to make it happen. "
)


def sample_parts(html_size: int = 20_000, text_size: int = 5_000) -> tuple[str, str]:
    """Return a newsletter-like (HTML with inline styles, plain text) pair of about these sizes."""
    head = (
        '<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Tocsin bench newsletter</title>\n</head>\n"
        '<body style="margin: 0; padding: 0; background-color: #f4f1ea;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="width: 100%; background-color: #f4f1ea;"><tr><td align="center">\n'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
        'style="max-width: 600px; background-color: #ffffff; color: #1f1f1f; '
        "font-family: Georgia, 'Times New Roman', serif; font-size: 17px; "
        'line-height: 1.55;">\n'
    )
    tail = (
        '<tr><td style="padding: 16px 32px 28px 32px; color: #5f5f5f; '
        'font-family: Arial, Helvetica, sans-serif; font-size: 13px;">'
        "You receive this because you subscribed to the bench list.<br>"
        '<a href="https://bench.example.org/u/TOKEN" style="color: #5f5f5f;">Unsubscribe</a>'
        "</td></tr>\n</table>\n</td></tr></table>\n</body>\n</html>\n"
    )
    sections: list[str] = []
    texts: list[str] = []
    index = 0
    while len(head) + len(tail) + sum(len(s.encode()) for s in sections) < html_size:
        title, lead = _TOPICS[index % len(_TOPICS)]
        sections.append(
            '<tr><td style="padding: 28px 32px;">'
            f'<h2 style="margin: 0 0 12px 0; font-size: 22px; color: #b3261e;">{title}</h2>'
            f'<p style="margin: 0 0 16px 0;">{lead} {_LOREM}</p>'
            f'<p style="margin: 0 0 16px 0;"><a href="https://bench.example.org/news/{index}" '
            f'style="color: #b3261e;">Read more about item {index}</a></p>'
            "</td></tr>\n"
        )
        if sum(len(t.encode()) for t in texts) < text_size:
            texts.append(f"{title}\n{'=' * len(title)}\n\n{lead} {_LOREM}\n\n")
        index += 1
    text = "".join(texts) + "Unsubscribe: https://bench.example.org/u/TOKEN\n"
    return head + "".join(sections) + tail, text


def build_messages(count: int, first: int = 0) -> list[tuple[str, bytes]]:
    """Return ``count`` (recipient, message bytes) pairs, each addressed to its own reader."""
    html, text = sample_parts()
    now = datetime.now(UTC)
    messages: list[tuple[str, bytes]] = []
    for number in range(first, first + count):
        recipient = f"reader{number}@bench.example.org"
        token = f"{number:08x}"
        data = build_message(
            sender=SENDER,
            recipient=format_address(f"Reader {number}", recipient),
            subject="Tocsin bench newsletter — printemps",
            text=text.replace("TOKEN", token),
            html=html.replace("TOKEN", token),
            message_id=f"<bench.{number}@bench.example.org>",
            date=now,
            extra_headers={
                "Content-Language": "en",
                "List-Id": "<bench.bench.example.org>",
                "List-Unsubscribe": f"<https://bench.example.org/u/{token}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        messages.append((recipient, data))
    return messages


Messages = int | Sequence[tuple[str, bytes]]


def _materialise(messages: Messages) -> Sequence[tuple[str, bytes]]:
    """Return pre-built messages: as given, or freshly built when given a count."""
    return build_messages(messages) if isinstance(messages, int) else messages


@dataclass(frozen=True)
class ClientRun:
    """What one smtplib connection did: messages sent, when (monotonic clock), CPU used."""

    messages: int
    started: float
    finished: float
    cpu: float


@dataclass(frozen=True)
class Measurement:
    """The result of one ceiling run, over all its connections."""

    connections: int
    messages: int
    seconds: float
    client_cpu: float

    @property
    def rate(self) -> float:
        """Messages per second, wall clock."""
        return self.messages / self.seconds if self.seconds > 0 else math.inf


def send_all(
    port: int,
    messages: Sequence[tuple[str, bytes]],
    host: str = HOST,
    before_start: Callable[[], None] | None = None,
) -> ClientRun:
    """Send every message over one persistent ``smtplib.SMTP`` connection, timing the loop."""
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.ehlo()
        if before_start is not None:
            before_start()
        cpu = time.process_time()
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable between processes
        for recipient, data in messages:
            refused = smtp.sendmail(ENVELOPE_FROM, [recipient], data)
            if refused:
                raise RuntimeError(f"refused: {refused}")
        finished = time.monotonic()
        cpu = time.process_time() - cpu
    return ClientRun(len(messages), started, finished, cpu)


def measure_one(port: int, messages: Messages, host: str = HOST) -> Measurement:
    """Send with one connection from this process; return the measurement."""
    run = send_all(port, _materialise(messages), host)
    return Measurement(1, run.messages, run.finished - run.started, run.cpu)


def _client_process(
    port: int, host: str, messages: Messages, first: int, barrier: Any, results: Any
) -> None:
    """Child: build (if needed) its share, connect, wait for the others, send, report."""
    try:
        share = build_messages(messages, first) if isinstance(messages, int) else messages
        run = send_all(port, share, host, before_start=lambda: barrier.wait(120))
        results.put(run)
    except BaseException as exc:  # report anything, so the parent does not wait forever
        barrier.abort()
        results.put(f"{type(exc).__name__}: {exc}")


def measure_parallel(
    port: int, messages: Messages, connections: int = 2, host: str = HOST
) -> Measurement:
    """Send with ``connections`` processes of one connection each, all starting together."""
    total = messages if isinstance(messages, int) else len(messages)
    bounds = [total * i // connections for i in range(connections + 1)]
    barrier = multiprocessing.Barrier(connections)
    results: Any = multiprocessing.Queue()
    processes: list[BaseProcess] = []
    for low, high in zip(bounds, bounds[1:], strict=False):
        share: Messages = high - low if isinstance(messages, int) else messages[low:high]
        process = multiprocessing.Process(
            target=_client_process, args=(port, host, share, low, barrier, results)
        )
        process.start()
        processes.append(process)
    runs: list[ClientRun] = []
    errors: list[str] = []
    for _ in processes:
        result = results.get(timeout=600)
        if isinstance(result, ClientRun):
            runs.append(result)
        else:
            errors.append(result)
    for process in processes:
        process.join(30)
    if errors:
        raise RuntimeError("; ".join(errors))
    seconds = max(r.finished for r in runs) - min(r.started for r in runs)
    return Measurement(
        connections, sum(r.messages for r in runs), seconds, sum(r.cpu for r in runs)
    )


def ceiling_one(port: int, messages: Messages) -> float:
    """Messages per second through one persistent smtplib connection to ``port``."""
    return measure_one(port, messages).rate


def ceiling_two(port: int, messages: Messages) -> float:
    """Messages per second through two smtplib connections in two processes at once."""
    return measure_parallel(port, messages, 2).rate


def _aiosmtpd_child(counter: ServerCounter, host: str, port: int, ready: Any) -> None:
    """Child: run aiosmtpd's Controller with a counting handler until SIGTERM."""
    from aiosmtpd.controller import Controller

    class CountingHandler:
        """Count each message and accept it."""

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            """Count one message."""
            counter.array[ServerCounter.MESSAGES] += 1
            counter.array[ServerCounter.BYTES] += len(envelope.original_content or b"")
            return "250 OK"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    controller = Controller(CountingHandler(), hostname=host, port=port)
    controller.start()
    counter.array[ServerCounter.PORT] = port
    ready.set()
    stop.wait()
    controller.stop()


def free_port(host: str = HOST) -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_aiosmtpd(port: int = 0, host: str = HOST) -> tuple[BaseProcess, ServerCounter]:
    """Start aiosmtpd's Controller in a child process; same contract as ``start_server``."""
    counter = ServerCounter()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(
        target=_aiosmtpd_child,
        args=(counter, host, port or free_port(host), ready),
        name="aiosmtpd",
        daemon=True,
    )
    process.start()
    if not ready.wait(30):
        stop_server(process)
        raise RuntimeError("aiosmtpd did not start")
    return process, counter


@contextlib.contextmanager
def running(
    start: Callable[[], tuple[BaseProcess, ServerCounter]],
) -> Iterator[tuple[BaseProcess, ServerCounter]]:
    """Run a server process for the duration of a ``with`` block."""
    process, counter = start()
    try:
        yield process, counter
    finally:
        stop_server(process)


def _row(server: str, result: Measurement, server_cpu: float, received: int) -> str:
    """Format one line of the results table."""
    per = 1000 / result.messages
    lost = "" if received == result.messages else f"  (server counted {received}!)"
    return (
        f"{server:<14} {result.connections:>5} {result.messages:>8} {result.seconds:>8.2f} "
        f"{result.rate:>8.0f} {result.client_cpu * per:>10.3f} {server_cpu * per:>10.3f}{lost}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: measure both servers with one and two connections, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages per run")
    parser.add_argument("--port", type=int, default=0, help="counting server port (0: any)")
    parser.add_argument("--no-aiosmtpd", action="store_true", help="skip the aiosmtpd runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (default 3)")
    args = parser.parse_args(argv)

    built = time.perf_counter()
    messages = build_messages(args.messages)
    built = time.perf_counter() - built
    size = sum(len(data) for _, data in messages) / len(messages)
    print(
        f"{len(messages)} messages of {size / 1024:.1f} KiB on the wire "
        f"(built in {built * 1000 / len(messages):.3f} ms each, not timed below)\n"
    )
    print(
        f"{'server':<14} {'conns':>5} {'messages':>8} {'seconds':>8} {'msg/s':>8} "
        f"{'client ms':>10} {'server ms':>10}   (CPU per message)"
    )
    servers: list[tuple[str, Callable[[], tuple[BaseProcess, ServerCounter]]]] = [
        ("counting_smtp", lambda: start_server(args.port)),
    ]
    if not args.no_aiosmtpd:
        servers.append(("aiosmtpd", start_aiosmtpd))
    summary: list[tuple[str, int, list[float], float, float]] = []
    for name, start in servers:
        for connections in (1, 2):
            rates: list[float] = []
            client_cpu = server_cpu = 0.0
            for _ in range(args.repeat):
                with running(start) as (process, counter):
                    assert process.pid is not None
                    cpu = cpu_seconds(process.pid)
                    if connections == 1:
                        result = measure_one(counter.port, messages)
                    else:
                        result = measure_parallel(counter.port, messages, connections)
                    cpu = cpu_seconds(process.pid) - cpu
                    print(_row(name, result, cpu, counter.messages), flush=True)
                rates.append(result.rate)
                client_cpu += result.client_cpu / result.messages / args.repeat
                server_cpu += cpu / result.messages / args.repeat
            summary.append((name, connections, rates, client_cpu, server_cpu))
    print(
        f"\n{'server':<14} {'conns':>5} {'median msg/s':>13} {'best msg/s':>11} "
        f"{'client ms':>10} {'server ms':>10}   (mean CPU per message)"
    )
    for name, connections, rates, client_cpu, server_cpu in summary:
        print(
            f"{name:<14} {connections:>5} {statistics.median(rates):>13.0f} {max(rates):>11.0f} "
            f"{client_cpu * 1000:>10.3f} {server_cpu * 1000:>10.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
