"""A minimal, fast asyncio SMTP sink for benchmarks: it accepts everything and only counts.

aiosmtpd spends about 1.7 ms of CPU on each message, which makes it, not the client, the
bottleneck of a delivery benchmark. This server is a plain ``asyncio.Protocol``: it parses
every complete command line already received, answers each in order (so PIPELINING works),
sends all those replies with one ``transport.write``, and finds the end of DATA with one
``bytes.find`` per chunk instead of reading the body line by line.

Counts live in shared memory (``ServerCounter``) so that a parent process can read
"messages received" while the server runs. Standard library only, so that it also runs as
``python bench/counting_smtp.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.sharedctypes
import os
import signal
import socket
import sys
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

MAX_SIZE = 32 * 1024 * 1024
MAX_LINE = 4096
HOSTNAME = "counting-smtp.invalid"

_TERMINATOR = b"\r\n.\r\n"
_GREETING = f"220 {HOSTNAME} ESMTP counting_smtp\r\n".encode()
_EHLO = "".join(
    f"250{sep}{line}\r\n"
    for sep, line in (
        ("-", HOSTNAME),
        ("-", "PIPELINING"),
        ("-", "8BITMIME"),
        ("-", f"SIZE {MAX_SIZE}"),
        (" ", "SMTPUTF8"),
    )
).encode()
_HELO = f"250 {HOSTNAME}\r\n".encode()
_OK = b"250 2.0.0 OK\r\n"
_MAIL_OK = b"250 2.1.0 OK\r\n"
_RCPT_OK = b"250 2.1.5 OK\r\n"
_DATA_GO = b"354 End data with <CR><LF>.<CR><LF>\r\n"
_QUEUED = b"250 2.0.0 Queued\r\n"
_BYE = b"221 2.0.0 Bye\r\n"
_HELP = b"214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT\r\n"
_NO_MAIL = b"503 5.5.1 Need MAIL first\r\n"
_NESTED_MAIL = b"503 5.5.1 Nested MAIL command\r\n"
_NO_RCPT = b"503 5.5.1 Need RCPT first\r\n"
_TOO_BIG = b"552 5.3.4 Message too big\r\n"
_TOO_LONG = b"500 5.5.2 Line too long\r\n"
_UNKNOWN = b"500 5.5.2 Command not recognized\r\n"


class ServerCounter:
    """Messages, bytes and the bound port, in shared memory written only by the server."""

    MESSAGES, BYTES, PORT = range(3)

    def __init__(self, array: Any | None = None) -> None:
        self.array: Any = (
            array if array is not None else multiprocessing.RawArray(ctypes.c_int64, 3)
        )

    @property
    def messages(self) -> int:
        """Messages whose DATA the server has accepted."""
        return int(self.array[self.MESSAGES])

    @property
    def bytes(self) -> int:
        """Bytes of message data accepted (as on the wire, without the final dot)."""
        return int(self.array[self.BYTES])

    @property
    def port(self) -> int:
        """The TCP port the server listens on (0 until it listens)."""
        return int(self.array[self.PORT])

    def reset(self) -> None:
        """Set the message and byte counts back to zero (call only while the server is idle)."""
        self.array[self.MESSAGES] = 0
        self.array[self.BYTES] = 0


class CountingSMTP(asyncio.Protocol):
    """One SMTP session: answers every complete command, counts each message's DATA."""

    def __init__(self, counter: ServerCounter, max_size: int = MAX_SIZE) -> None:
        self.counter = counter
        self.array = counter.array
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.in_data = False
        self.data_bytes = 0
        self.data_tail = b""
        self.has_mail = False
        self.recipients = 0
        self.discarding = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Greet the client."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(_GREETING)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport and any half-received input."""
        self.transport = None
        self.buffer = b""

    def pause_writing(self) -> None:
        """Stop reading while the client does not read its replies (flow control)."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """Read again once the replies have drained."""
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        """Handle everything now buffered, then send all replies with a single write."""
        if self.closing:
            return
        buffer = self.buffer + data if self.buffer else data
        replies: list[bytes] = []
        position = 0
        end = len(buffer)
        while position < end:
            if self.in_data:
                position = self._consume_data(buffer, position, replies)
                continue
            newline = buffer.find(b"\n", position)
            if newline < 0:
                if end - position > MAX_LINE:
                    replies.append(_TOO_LONG)
                    self.discarding = True
                    position = end
                break
            if self.discarding:  # the rest of an overlong line
                self.discarding = False
                position = newline + 1
                continue
            replies.append(self._command(buffer[position : newline + 1]))
            position = newline + 1
            if self.closing:
                break
        self.buffer = buffer[position:] if position < end else b""
        transport = self.transport
        if transport is None:
            return
        if replies:
            transport.write(replies[0] if len(replies) == 1 else b"".join(replies))
        if self.closing:
            transport.close()

    def _consume_data(self, buffer: bytes, position: int, replies: list[bytes]) -> int:
        """Count DATA bytes from ``position``; return where the next command starts."""
        tail = self.data_tail
        # The terminator may straddle the previous chunk and this one: check the seam first.
        seam = tail + buffer[position : position + 4]
        found = seam.find(_TERMINATOR)
        if found >= 0:
            # Message data ends where the terminator's leading CRLF begins; that CRLF is part
            # of the data (except the implicit one after "DATA", which is not counted).
            self._finish(self.data_bytes + found - len(tail) + 2, replies)
            return position + found - len(tail) + len(_TERMINATOR)
        found = buffer.find(_TERMINATOR, position)
        if found >= 0:
            self._finish(self.data_bytes + found - position + 2, replies)
            return found + len(_TERMINATOR)
        end = len(buffer)
        self.data_bytes += end - position
        self.data_tail = (tail + buffer[max(position, end - 4) :])[-4:]
        return end

    def _finish(self, length: int, replies: list[bytes]) -> None:
        """End a message: count it (unless too big) and reset the envelope."""
        self.in_data = False
        self.has_mail = False
        self.recipients = 0
        if length > self.max_size:
            replies.append(_TOO_BIG)
            return
        array = self.array
        array[0] += 1
        array[1] += length
        replies.append(_QUEUED)

    def _command(self, line: bytes) -> bytes:
        """Return the reply to one command line (QUIT also marks the session as closing)."""
        verb = line[:4].upper()
        if verb == b"RCPT":
            if not self.has_mail:
                return _NO_MAIL
            self.recipients += 1
            return _RCPT_OK
        if verb == b"MAIL":
            if self.has_mail:
                return _NESTED_MAIL
            self.has_mail = True
            return _MAIL_OK
        if verb == b"DATA":
            if not self.recipients:
                return _NO_RCPT if self.has_mail else _NO_MAIL
            self.in_data = True
            self.data_bytes = 0
            # The CRLF ending the DATA line counts as the first CRLF of "\r\n.\r\n", which
            # is how an empty message (a lone ".\r\n") ends.
            self.data_tail = b"\r\n"
            return _DATA_GO
        if verb in (b"EHLO", b"HELO"):
            self.has_mail = False
            self.recipients = 0
            return _EHLO if verb == b"EHLO" else _HELO
        if verb == b"RSET":
            self.has_mail = False
            self.recipients = 0
            return _OK
        if verb == b"NOOP":
            return _OK
        if verb == b"QUIT":
            self.closing = True
            return _BYE
        if verb == b"HELP":
            return _HELP
        return _UNKNOWN


def write_stats(counter: ServerCounter, path: Path) -> None:
    """Atomically replace ``path`` with one line: ``<messages> <bytes>``."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(f"{counter.messages} {counter.bytes}\n")
    partial.replace(path)


async def _publish_stats(counter: ServerCounter, path: Path, interval: float = 0.2) -> None:
    """Rewrite the stats file whenever the counts have changed, every ``interval`` seconds."""
    last = (-1, -1)
    while True:
        now = (counter.messages, counter.bytes)
        if now != last:
            write_stats(counter, path)
            last = now
        await asyncio.sleep(interval)


async def serve(
    counter: ServerCounter,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[int], None] | None = None,
    stats_file: Path | None = None,
) -> None:
    """Listen until cancelled or SIGTERM/SIGINT; ``ready(port)`` is called once listening."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(counter), host, port, family=socket.AF_INET, backlog=128
    )
    bound = int(server.sockets[0].getsockname()[1])
    counter.array[ServerCounter.PORT] = bound
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    publisher = (
        asyncio.create_task(_publish_stats(counter, stats_file)) if stats_file is not None else None
    )
    if ready is not None:
        ready(bound)
    async with server:
        await stop.wait()
    if publisher is not None:
        publisher.cancel()
    if stats_file is not None:
        write_stats(counter, stats_file)


def _new_loop() -> asyncio.AbstractEventLoop:
    """Return uvloop's loop when uvloop happens to be installed, else asyncio's default."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(
    counter: ServerCounter,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[int], None] | None = None,
    stats_file: Path | None = None,
) -> None:
    """Run ``serve`` in a new event loop in this thread until stopped."""
    loop = _new_loop()
    try:
        loop.run_until_complete(serve(counter, host, port, ready, stats_file))
    finally:
        loop.close()


def _child(counter: ServerCounter, host: str, port: int, ready: Any) -> None:
    """Entry point of the server's child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C is the parent's
    run(counter, host, port, lambda _port: ready.set())


def start_server(
    port: int = 0, host: str = "127.0.0.1", timeout: float = 10.0
) -> tuple[BaseProcess, ServerCounter]:
    """Start the server in a child process; return once it listens (see ``counter.port``)."""
    counter = ServerCounter()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(
        target=_child, args=(counter, host, port, ready), name="counting-smtp", daemon=True
    )
    process.start()
    if not ready.wait(timeout):
        process.terminate()
        process.join(timeout)
        raise RuntimeError(f"counting SMTP server did not start on {host}:{port}")
    return process, counter


def stop_server(process: BaseProcess, timeout: float = 10.0) -> None:
    """Stop a server started with ``start_server`` (SIGTERM, then SIGKILL if it lingers)."""
    if process.is_alive():
        process.terminate()
        process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(timeout)


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields after "(comm) ": state is index 0, so utime (14th field) is 11, stime is 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    """Command line: serve on a port until Ctrl-C, then print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument(
        "--stats-file",
        type=Path,
        help='keep "<messages> <bytes>" in this file, updated within 0.2 s of a change',
    )
    args = parser.parse_args(argv)
    counter = ServerCounter()

    def ready(port: int) -> None:
        print(f"counting SMTP server on {args.host}:{port} (pid {os.getpid()})", flush=True)

    run(counter, args.host, args.port, ready, args.stats_file)
    print(f"received {counter.messages} messages, {counter.bytes} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
