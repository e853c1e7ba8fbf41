"""Return-path benchmark: how fast one worker reads and applies bounces, and whether the
receiver's memory stays flat over many messages.

On each database: seeds N subscribers, one sent campaign and its N delivery rows (with the
Message-IDs the send path writes), stores N reports as the receiver would (60 % hard
bounces as Postfix writes them, 30 % soft ones with ``Action: failed`` and a 4.2.2 status,
10 % ARF complaints; each at its own VERP address), then times one process claiming and
processing them all (``intake.claim_queued`` + ``processing.process``, what the worker's
task runs) and checks what they did. Then starts ``tocsin inbound serve`` and sends it M
messages over SMTP, reading its RSS after the first tenth and at the end.

    python -m bench.bounces --quick       # 5,000 reports; 10,000 through the receiver
    python -m bench.bounces               # 20,000 reports; 100,000 through the receiver
    python -m bench.bounces --only sqlite

Each database's run ends with one line:

    <database>: apply_per_s: A  receiver_messages: M  receiver_rss_mb: first-tenth -> end
"""

from __future__ import annotations

import argparse
import hashlib
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.audience import configure, reset_postgres, tocsin

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/benchbounces"
DOMAIN = "example.org"


def report(n: int, address: str, token: str, message_id: str) -> bytes:
    """The n-th report: a hard bounce, a soft one, or an ARF complaint."""
    kind = n % 10
    boundary = f"=_b{n}"
    if kind == 9:
        return (
            f"From: feedback@isp.example\r\nTo: bounces+{token}@{DOMAIN}\r\n"
            "Subject: complaint\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"'
            f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
            f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: abuse\r\nUser-Agent: bench/1\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {address}\r\n"
            f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"Message-ID: {message_id}\r\nTo: {address}\r\n--{boundary}--\r\n"
        ).encode()
    status, diagnostic = (
        ("4.2.2", "452 4.2.2 Mailbox full") if kind >= 6 else ("5.1.1", "550 5.1.1 User unknown")
    )
    return (
        f"From: MAILER-DAEMON@mta.example.net\r\nTo: bounces+{token}@{DOMAIN}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"'
        f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mta.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nTo: {address}\r\n--{boundary}--\r\n"
    ).encode()


def seed(count: int) -> list[tuple[str, str, str]]:
    """Subscribers, a sent campaign and its deliveries; returns (address, token, message id)."""
    from sqlalchemy import insert, select

    from app.campaigns import drafts
    from app.extensions import db
    from app.models import Delivery, DeliveryStatus, MailingList, Subscriber
    from app.models.base import new_uid, utcnow
    from app.tokens import hasher as keyed_hasher

    hasher, now = keyed_hasher(), utcnow()
    people = [(f"reader{n:07d}@example.net", new_uid()) for n in range(count)]
    db.session.execute(
        insert(Subscriber),
        [
            {
                "email": e,
                "email_hash": hasher.email_hash(e),
                "uid": u,
                "language": "en",
                "name": "",
                "attributes": {},
                "consent_source": "bench",
                "created_at": now,
            }
            for e, u in people
        ],
    )
    the_list = MailingList(slug="bench", name="Benchmark")
    db.session.add(the_list)
    db.session.commit()
    campaign = drafts.create_campaign("Bench", lists=[the_list])
    ids = dict(db.session.execute(select(Subscriber.email, Subscriber.id)).all())
    rows, found = [], []
    for email, uid in people:
        message_id = hasher.message_id(campaign.uid, uid, DOMAIN)
        rows.append(
            {
                "campaign_id": campaign.id,
                "subscriber_id": ids[email],
                "language": "en",
                "status": DeliveryStatus.SENT,
                "attempts": 1,
                "smtp_reply": "250 ok",
                "message_id": message_id,
                "created_at": now,
            }
        )
        found.append((email, message_id[1:].partition("@")[0], message_id))
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(Delivery), rows[start : start + 5000])
    db.session.commit()
    return found


def store(reports: list[tuple[bytes, str]]) -> None:
    """Store the reports as the receiver would (set-based: storing is not what is timed)."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import InboundMessage, InboundStatus
    from app.models.base import utcnow

    now = utcnow()
    rows = [
        {
            "source": "lmtp",
            "envelope_from": "",
            "recipients": [to],
            "raw": raw,
            "size": len(raw),
            "digest": hashlib.sha256(raw).hexdigest(),
            "status": InboundStatus.QUEUED,
            "attempts": 0,
            "outcome": "",
            "received_at": now,
        }
        for raw, to in reports
    ]
    for start in range(0, len(rows), 2000):
        db.session.execute(insert(InboundMessage), rows[start : start + 2000])
    db.session.commit()


def apply_all() -> float:
    """Claim and process everything queued in this one process; return seconds."""
    from app.inbound import intake, processing

    started = time.perf_counter()
    while ids := intake.claim_queued():
        processing.process(ids)
    return time.perf_counter() - started


def check(count: int) -> str:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import InboundMessage, InboundStatus, Subscriber, SubscriberStatus

    statuses = dict(
        db.session.execute(
            select(Subscriber.status, func.count()).group_by(Subscriber.status)
        ).all()
    )
    applied = db.session.scalar(
        select(func.count())
        .select_from(InboundMessage)
        .where(InboundMessage.status == InboundStatus.APPLIED)
    )
    hard = sum(1 for n in range(count) if n % 10 < 6)
    complaints = sum(1 for n in range(count) if n % 10 == 9)
    if (
        applied != count
        or statuses.get(SubscriberStatus.BOUNCED, 0) != hard
        or statuses.get(SubscriberStatus.COMPLAINED, 0) != complaints
    ):
        raise SystemExit(f"wrong result: applied {applied} of {count}, statuses {statuses}")
    return f"{hard} bounced, {complaints} complained, {count - hard - complaints} soft (score 1)"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def receiver_memory(environ: dict[str, str], messages: int) -> tuple[float, float, float]:
    """Send ``messages`` reports to a receiver process; its RSS after a tenth and at the end,
    and the messages a second."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "inbound", "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.1)
        first = 0.0
        started = time.perf_counter()
        client = smtplib.SMTP("127.0.0.1", port)
        for n in range(messages):
            token = (
                hashlib.sha256(str(n).encode())
                .hexdigest()[:32]
                .translate(str.maketrans("0189", "2345"))
            )
            raw = report(n, f"reader{n:07d}@example.net", token, f"<{token}@{DOMAIN}>")
            client.sendmail("", [f"bounces+{token}@{DOMAIN}"], raw)
            if n == messages // 10:
                first = rss_mb(server.pid)
        client.quit()
        elapsed = time.perf_counter() - started
        return first, rss_mb(server.pid), messages / elapsed
    finally:
        server.terminate()
        server.wait()


def measure(name: str, database_url: str, count: int, messages: int) -> str:
    directory = Path(tempfile.mkdtemp(prefix=f"bench-bounces-{name}-"))
    environ = configure(directory, database_url)
    environ["TOCSIN_FROM"] = f"News <news@{DOMAIN}>"
    if database_url.startswith("postgresql"):
        reset_postgres(database_url)
    tocsin(environ, "db", "upgrade")
    os.environ.update(environ)
    from app import create_app

    app = create_app()
    with app.app_context():
        people = seed(count)
        store([(report(n, e, t, m), f"bounces+{t}@{DOMAIN}") for n, (e, t, m) in enumerate(people)])
        seconds = apply_all()
        print(f"{name}: {count / seconds:.0f} reports a second", flush=True)
        outcome = check(count)
    rate = count / seconds
    print(f"{name}: applied {count} reports in {seconds:.1f} s ({outcome})", flush=True)
    first, end, per_s = receiver_memory(environ, messages)
    print(f"{name}: receiver took {messages} messages at {per_s:.0f}/s", flush=True)
    return (
        f"{name}: apply_per_s: {rate:.0f}  receiver_messages: {messages}  "
        f"receiver_rss_mb: {first:.1f} -> {end:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 reports; 10,000 received")
    parser.add_argument("--reports", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    options = parser.parse_args(argv)
    reports = options.reports or (5_000 if options.quick else 20_000)
    messages = options.messages or (10_000 if options.quick else 100_000)
    lines = []
    if options.only in (None, "sqlite"):
        directory = Path(tempfile.mkdtemp(prefix="bench-bounces-db-"))
        lines.append(measure("sqlite", f"sqlite:///{directory / 'tocsin.db'}", reports, messages))
    if options.only in (None, "postgresql"):
        lines.append(measure("postgresql", PG_URL, reports, messages))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
