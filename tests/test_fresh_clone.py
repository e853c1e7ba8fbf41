"""The README's run command works in a fresh clone: the panel answers and the login works."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.smtp import free_port

pytestmark = [pytest.mark.slow, pytest.mark.fresh_clone]
REPOSITORY = Path(__file__).resolve().parents[1]


def test_make_run_in_a_fresh_clone_serves_the_panel_with_the_printed_login(tmp_path):
    readme = (REPOSITORY / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    clone = tmp_path / "tocsin"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
    port, smtp_port, inbound_port = free_port(), free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "make",
                "run",
                f"RUN_ARGS=--port {port} --smtp-port {smtp_port} --inbound-port {inbound_port}",
            ],
            cwd=clone,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/login", process, log_path)
        assert "Log in" in page
        output = log_path.read_text(errors="replace")
        login = re.search(r"Log in as:\s+(\S+)\s+Password:\s+\(not shown here: see (.+)\)", output)
        assert login, output[-3000:]
        assert f"http://127.0.0.1:{port}/" in output
        # Output that is not a terminal (this log) names the file, never the password.
        email, password = Path(login.group(2)).read_text().split()[:2]
        assert email == login.group(1) and password not in output
        campaigns = _log_in(f"http://127.0.0.1:{port}", email, password)
        assert "Call for a week of action" in campaigns, "the demo campaign is there"
        # The receiver of what comes back runs too, for the demo's bounce domain only.
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=10) as receiver:
            receiver.ehlo()
            receiver.mail("")
            assert receiver.rcpt("abuse@localhost")[0] == 250
            assert receiver.rcpt("postmaster@localhost")[0] == 550
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _log_in(base: str, email: str, password: str) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/login") as response:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.read().decode())
    assert token
    form = urlencode({"email": email, "password": password, "csrf_token": token.group(1)})
    with opener.open(f"{base}/login", data=form.encode()) as response:
        return response.read().decode()


def _wait_for(url: str, process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run stopped early:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the panel never answered:\n{log_path.read_text(errors='replace')[-4000:]}")
