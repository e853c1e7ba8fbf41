"""Delivery benchmark: the whole pipeline against the SMTP ceiling and a naive baseline.

Seeds N subscribers, starts a counting SMTP server (bench/counting_smtp.py) and measures,
in one run and with messages of the same size:
  (a) the ceiling: pre-built messages over one persistent smtplib connection, and over two
      connections in two processes;
  (b) the pipeline: start_sending, the dispatcher on beat, real Celery worker processes
      (claim, render per recipient, MIME, send, ledger write), with 1 and with 2 workers;
  (c) the naive baseline: one task per message, premailer per message, a new connection
      per message.
It ends with ``pipeline/ceiling: R1 (1 worker)  R2 (2 workers)  pipeline/naive: X  rss_mb: M``.

    python -m bench.delivery --quick                      # embedded: SQLite + SQLite broker
    python -m bench.delivery --postgres --redis           # the production pair
    python -m bench.delivery --postgres --redis --recipients 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
REDIS_URL = "redis://127.0.0.1:6379/13"
BODY_SECTIONS = 20_000  # bytes of HTML body: with the layout, about 25 KB of HTML + text


def configure(args: argparse.Namespace, directory: Path, smtp_port: int) -> None:
    """Point every process of this run at one database, broker and SMTP server."""
    os.environ.update(
        {
            "TOCSIN_DATA_DIR": str(directory),
            "TOCSIN_DATABASE_URL": args.database_url
            or (PG_URL if args.postgres else f"sqlite:///{directory / 'bench.db'}"),
            "TOCSIN_BROKER_URL": REDIS_URL
            if args.redis
            else f"sqla+sqlite:///{directory / 'b.db'}",
            "TOCSIN_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "TOCSIN_SECRET_KEY": "benchmark-secret-key-benchmark-secret-key",
            "TOCSIN_FROM": "Solidarity Collectives <news@example.org>",
            "TOCSIN_BASE_URL": "https://news.example.org",
            "TOCSIN_BATCH_SIZE": str(args.batch_size),
            "TOCSIN_DISPATCH_INTERVAL": "0.5",
        }
    )


def prepare_database(recipients: int) -> int:
    """Migrate an empty database, seed the audience in chunks, and write one draft campaign."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select, text

    from app import create_app
    from app.audience import lists
    from app.campaigns import drafts
    from app.extensions import db
    from app.models import Subscriber, Subscription, SubscriptionStatus
    from app.models.base import new_uid, utcnow
    from app.tokens import hasher as keyed_hasher
    from bench.ceiling import sample_parts

    app = create_app()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        audience = lists.create_list("partners", "Partner collectives")
        now, hasher = utcnow(), keyed_hasher()
        for start in range(0, recipients, 10_000):
            emails = [
                f"reader{n:07d}@bench.example.org"
                for n in range(start, min(start + 10_000, recipients))
            ]
            db.session.execute(
                insert(Subscriber),
                [
                    {
                        "email": e,
                        "email_hash": hasher.email_hash(e),
                        "uid": new_uid(),
                        "name": "",
                        "language": "en",
                        "attributes": {},
                        "consent_source": "bench",
                        "created_at": now,
                    }
                    for e in emails
                ],
            )
            ids = db.session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails)))
            db.session.execute(
                insert(Subscription),
                [
                    {
                        "subscriber_id": i,
                        "list_id": audience.id,
                        "created_at": now,
                        "status": SubscriptionStatus.CONFIRMED,
                    }
                    for i in ids
                ],
            )
            db.session.commit()
        html, _text = sample_parts(html_size=BODY_SECTIONS)
        body = html[html.index("<table") : html.rindex("</table>")]
        campaign = drafts.create_campaign("Bench", lists=[audience])
        drafts.save_variant(
            campaign.id,
            "en",
            subject="Week of action, {{ name | default('friends') }}",
            body=body,
            body_format="html",
        )
        return campaign.id


def sample_messages(campaign_id: int, count: int) -> list[tuple[str, bytes]]:
    """Build ``count`` messages exactly as the pipeline would (for the ceiling runs)."""
    from app import create_app
    from app.extensions import db
    from app.messages.composing import MessageFactory, Recipient
    from app.models import Campaign
    from app.models.base import utcnow

    app = create_app()
    with app.app_context():
        factory = MessageFactory(db.session.get(Campaign, campaign_id), app.config)
        built = []
        for n in range(count):
            email = f"ceiling{n}@bench.example.org"
            message = factory.build(Recipient(f"uid{n}", email, "", "en", None, {}), utcnow())
            assert message is not None
            built.append((email, message.data))
        return built


def reset_campaign(campaign_id: int) -> None:
    """Drop the ledger and any queued task, and return the campaign to draft."""
    from worker import celery

    celery.control.purge()
    from sqlalchemy import delete, update

    from app import create_app
    from app.extensions import db
    from app.models import Campaign, CampaignStatus, Delivery

    app = create_app()
    with app.app_context():
        db.session.execute(delete(Delivery))
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(
                status=CampaignStatus.DRAFT, started_at=None, finished_at=None, progress_samples=[]
            )
        )
        db.session.commit()


def spawn(directory: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """A celery process whose output goes to the run's log (the child keeps its own handle)."""
    with (directory / "processes.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def spawn_worker(
    directory: Path, app: str, hostname: str, loglevel: str
) -> subprocess.Popen[bytes]:
    """One solo worker process of ``app`` (the real one, or the naive baseline)."""
    return spawn(
        directory,
        "-A",
        app,
        "worker",
        "--pool",
        "solo",
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        loglevel,
    )


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_ready(directory: Path, workers: int) -> None:
    log = directory / "processes.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count(" ready.") >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(f"workers did not start; see {log}")


def until(counter, target: int, timeout: float) -> float:  # noqa: ANN001
    """Wait until the SMTP server has counted ``target`` messages; return the time it took."""
    started = time.monotonic()
    while counter.messages < target:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {counter.messages} of {target} messages arrived")
        time.sleep(0.01)
    return time.monotonic() - started


# The steady rate is timed from the moment this share of the messages has arrived: a long
# campaign's speed, without the one-time start (beat's first tick, compiling the variants,
# opening the connection), which the whole-run rate includes.
STEADY_FROM = 0.1


def run_pipeline(
    directory: Path, campaign_id: int, workers: int, counter, recipients: int
) -> tuple[float, float, float]:  # noqa: ANN001
    """Send the campaign with ``workers`` worker processes; return (whole-run msg/s, steady
    msg/s, peak RSS MB)."""
    from app import create_app
    from app.campaigns import lifecycle

    reset_campaign(campaign_id)
    (directory / "processes.log").unlink(missing_ok=True)
    processes = [spawn_worker(directory, "worker", f"w{n}@%h", "INFO") for n in range(workers)]
    processes.append(
        spawn(directory, "-A", "worker", "beat", "--schedule", str(directory / "beat-schedule"))
    )
    try:
        wait_ready(directory, workers)
        counter.reset()
        app = create_app()
        with app.app_context():
            started = time.monotonic()
            lifecycle.start_sending(campaign_id)
        first = int(recipients * STEADY_FROM)
        until(counter, first, timeout=3600)
        steady_from = time.monotonic()
        until(counter, recipients, timeout=3600)
        ended = time.monotonic()
        rss = max(peak_rss_mb(p.pid) for p in processes[:workers])
    finally:
        stop(processes)
    return recipients / (ended - started), (recipients - first) / (ended - steady_from), rss


def run_naive(directory: Path, campaign_id: int, counter, count: int) -> float:  # noqa: ANN001
    """One task per message through one worker process; return msg/s."""
    from sqlalchemy import select

    from app import create_app
    from app.campaigns import lifecycle
    from app.extensions import db
    from app.models import Delivery

    reset_campaign(campaign_id)
    (directory / "processes.log").unlink(missing_ok=True)
    processes = [spawn_worker(directory, "bench.naive", "naive@%h", "WARNING")]
    try:
        app = create_app()
        with app.app_context():
            lifecycle.start_sending(campaign_id)  # the ledger rows; no dispatcher runs
            ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id).limit(count)).all()
            from bench.naive import naive_send

            for delivery_id in ids:
                naive_send.delay(delivery_id)
        counter.reset()
        time.sleep(0.5)
        counter.reset()
        seconds = until(counter, min(count, len(ids)) // 2, timeout=3600)
    finally:
        stop(processes)
        reset_campaign(campaign_id)  # purge the naive tasks not needed for the measurement
    return (min(count, len(ids)) // 2) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2,000 recipients, under a minute")
    parser.add_argument("--postgres", action="store_true", help=f"use {PG_URL}")
    parser.add_argument("--database-url", help="any SQLAlchemy URL (overrides --postgres)")
    parser.add_argument("--redis", action="store_true", help=f"use {REDIS_URL} as the broker")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--naive", type=int, default=600, help="messages for the naive run")
    args = parser.parse_args(argv)
    if args.quick:
        args.recipients, args.naive = 2_000, 300

    from bench.ceiling import measure_one, measure_parallel
    from bench.counting_smtp import start_server, stop_server

    directory = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    server, counter = start_server(0)
    try:
        configure(args, directory, counter.port)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        campaign_id = prepare_database(args.recipients)
        messages = sample_messages(campaign_id, min(args.recipients, 5_000))
        size = sum(len(m) for _e, m in messages) / len(messages)
        one = measure_one(counter.port, messages).rate
        two = measure_parallel(counter.port, messages, 2).rate
        w1, p1, rss1 = run_pipeline(directory, campaign_id, 1, counter, args.recipients)
        w2, p2, rss2 = run_pipeline(directory, campaign_id, 2, counter, args.recipients)
        naive = run_naive(directory, campaign_id, counter, args.naive)
    finally:
        stop_server(server)
        shutil.rmtree(directory, ignore_errors=True)
    database = "PostgreSQL" if args.postgres or args.database_url else "SQLite"
    broker = "Redis" if args.redis else "SQLite (kombu SQLAlchemy)"
    print(
        f"\n{args.recipients} recipients, {size / 1024:.1f} KiB a message, "
        f"database {database}, broker {broker}, batch {args.batch_size}"
    )
    print(f"{'run':<40}{'msg/s':>10}")
    for label, rate in [
        ("ceiling, 1 smtplib connection", one),
        ("ceiling, 2 connections (2 processes)", two),
        ("pipeline, 1 worker (whole run)", w1),
        ("pipeline, 1 worker (steady)", p1),
        ("pipeline, 2 workers (whole run)", w2),
        ("pipeline, 2 workers (steady)", p2),
        ("naive (task + premailer + connection)", naive),
    ]:
        print(f"{label:<40}{rate:>10.0f}")
    print(f"worker peak RSS: {rss1:.0f} MB (1 worker), {rss2:.0f} MB (2 workers)")
    print(
        f"whole run, start included: {w1 / one:.2f} (1 worker)  {w2 / two:.2f} (2 workers); "
        f"steady: after the first {STEADY_FROM:.0%} of the messages"
    )
    print(
        f"pipeline/ceiling: {p1 / one:.2f} (1 worker)  {p2 / two:.2f} (2 workers)  "
        f"pipeline/naive: {p1 / naive:.1f}  rss_mb: {max(rss1, rss2):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
