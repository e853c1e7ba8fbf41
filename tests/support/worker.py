"""Run a real Celery worker process (with embedded beat) for end-to-end tests."""

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
    """``celery -A worker worker -B`` in a subprocess, its output kept in a log file."""

    def __init__(self, directory: Path, concurrency: int = 2) -> None:
        self.log_path = directory / "worker.log"
        self.schedule = directory / "beat-schedule"
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    "-B",
                    "--schedule",
                    str(self.schedule),
                    "--concurrency",
                    str(self.concurrency),
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def check_alive(self) -> None:
        """Fail with the worker's log if the process has died."""
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the worker is not running; its log:\n{self.log_tail()}")

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
