"""Run a real Celery worker and a real beat, each in its own process, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.extensions import db
from app.models import Campaign, CampaignStatus


class WorkerProcess:
    """Celery workers (each ``--pool solo``: one process, one SMTP connection) and one beat,
    as separate processes like in production; their output goes to one log file.

    Solo workers make ``kill -9 a worker`` mean exactly that: the whole worker dies, and
    ``kill_one`` starts a replacement the way a supervisor would.
    """

    def __init__(self, directory: Path, workers: int = 2) -> None:
        self.log_path = directory / "worker.log"
        self.schedule = directory / "beat-schedule"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.count = workers
        self.beat: subprocess.Popen[bytes] | None = None

    def _spawn(self, *arguments: str) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                start_new_session=True,
            )

    def _spawn_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn(
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            f"worker{len(self.workers)}-{time.monotonic_ns()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )

    def start(self) -> None:
        self.workers = [self._spawn_worker() for _ in range(self.count)]
        self.beat = self._spawn("beat", "--schedule", str(self.schedule), "--loglevel", "INFO")

    def stop(self) -> None:
        for process in (self.beat, *self.workers):
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def kill_one(self, index: int) -> None:
        """SIGKILL one worker wherever it is, then start a fresh one in its place."""
        victim = self.workers[index]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        self.workers[index] = self._spawn_worker()

    def check_alive(self) -> None:
        """Fail with the log if a worker or beat has died."""
        for process in (self.beat, *self.workers):
            if process is None or process.poll() is not None:
                raise AssertionError(f"a worker or beat is not running; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def until_status(self, campaign_id: int, status: CampaignStatus, timeout: float = 90) -> None:
        """Poll the database until the campaign reaches ``status``; fail with the log if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            db.session.expire_all()
            current = db.session.get(Campaign, campaign_id)
            db.session.rollback()
            if current is not None and current.status == status:
                return
            self.check_alive()
            time.sleep(0.1)
        raise AssertionError(
            f"campaign {campaign_id} did not become {status.value} in {timeout}s; "
            f"worker log:\n{self.log_tail()}"
        )

    def until_sent(self, campaign_id: int, timeout: float = 90) -> None:
        """Wait until the campaign is ``sent``."""
        self.until_status(campaign_id, CampaignStatus.SENT, timeout)
