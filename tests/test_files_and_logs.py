"""Files that hold addresses are the app user's alone (0600, folders 0700), and logs never
hold a personal token or the demo password: through the real servers and commands."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import smtplib
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.audience import imports
from app.catcher import start_catcher
from app.logs import redact
from app.tokens import tokens
from tests.support.factories import make_list, make_subscriber
from tests.support.imports import run_import
from tests.support.smtp import free_port

REPOSITORY = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def loose_umask() -> Iterator[None]:
    """A shell's usual umask (022), as if nothing had tightened it."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


# --- Tokens in request logs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /p/AbC.d-e_F HTTP/1.1" 200', '"GET /p/[token] HTTP/1.1" 200'),
        ("/u/tok?List-Unsubscribe=One-Click", "/u/[token]?List-Unsubscribe=One-Click"),
        ("/p/tok/data.json", "/p/[token]/data.json"),
        ("/c/tok /r/tok2", "/c/[token] /r/[token]"),
        ("/login?next=%2Fp%2Ftok%3Fx", "/login?next=%2Fp%2F[token]%3Fx"),
        ("/login?next=%2fP%2ftok", "/login?next=%2fP%2f[token]"),
        ("https://news.example.org/r/tok#x", "https://news.example.org/r/[token]#x"),
        ("/preview-link/abc/def/en?x=1", "/preview-link/[token]?x=1"),
    ],
)
def test_tokens_are_redacted_in_every_spelling(line, expected):
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line", ["/campaigns/1/preview/en", "/s/supporters", "/archive/en/", "/static/x.css"]
)
def test_other_paths_are_left_alone(line):
    assert redact(line) == line


def a_token(app) -> str:
    person = make_subscriber("ann@example.org", lists=[make_list()])
    return tokens().preferences(person.uid)


def test_the_development_servers_request_log_holds_no_token(app):
    token = a_token(app)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    logging.getLogger("werkzeug").addHandler(handler)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in (f"/p/{token}", f"/u/{token}?x=1", f"/login?next=%2Fp%2F{token}"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").close()
            except urllib.error.HTTPError as refused:  # a preference token does not unsubscribe
                refused.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        logging.getLogger("werkzeug").removeHandler(handler)
    assert len([line for line in lines if "GET /" in line]) == 3, lines
    assert token not in "\n".join(lines)
    assert "GET /p/[token] HTTP/1.1" in "\n".join(lines)


def test_gunicorns_access_log_holds_no_token(app, tmp_path):
    token = a_token(app)
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:app.gunicorn_config",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "app:create_app()",
            ],
            cwd=REPOSITORY,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/login", process, log_path)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/p/{token}?from=mail",
            headers={"Referer": f"https://news.example.org/u/{token}"},
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
        deadline = time.monotonic() + 20
        while "GET /p/" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log = log_path.read_text()
    assert '"GET /p/[token]?from=mail HTTP/1.1" 200' in log, log
    assert '"https://news.example.org/u/[token]"' in log
    assert token not in log


def wait_for(url: str, process: subprocess.Popen[bytes], log_path: Path, limit: int = 120) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            return str(exc.code)
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} never answered:\n{log_path.read_text(errors='replace')[-4000:]}")


# --- File modes ------------------------------------------------------------------------------


def test_uploads_and_reports_are_0600_in_a_0700_folder_whatever_the_umask(app):
    partners = make_list()
    with loose_umask():
        folder = imports.folder()
        folder.chmod(0o755)  # as an older version left it
        waiting = imports.upload(
            io.BytesIO(b"email\nann@example.org\n"), "a.csv", partners.id, "subscribe"
        )
        done = run_import(b"email\nbob@example.org\nnot-an-address\n", partners)
    assert mode(imports.upload_path(waiting)) == 0o600
    assert mode(imports.report_path(done)) == 0o600
    from app import private_files

    private_files.tighten([Path(app.instance_path)])  # what the next start does
    assert mode(folder) == 0o700


def test_the_catchers_maildir_is_0700_and_its_messages_0600(tmp_path):
    port, maildir = free_port(), tmp_path / "maildir"
    with loose_umask():
        controller = start_catcher("127.0.0.1", port, maildir)
        try:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@x.org", "b@x.org", "Hi"
            message.set_content("Hello")
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.send_message(message)
        finally:
            controller.stop()
        restored = os.umask(0o022)
    assert restored == 0o077, "the catcher sets the process umask"
    folders = [maildir, *(maildir / sub for sub in ("new", "cur", "tmp"))]
    assert [mode(f) for f in folders] == [0o700] * 4
    [caught] = (maildir / "new").iterdir()
    assert mode(caught) == 0o600


def test_a_start_tightens_an_instance_made_with_loose_modes(tmp_path):
    """`tocsin db upgrade` (any command: every process builds the app) on an instance folder,
    database and Maildir an older version left readable by everyone."""
    instance = tmp_path / "instance"
    (instance / "maildir" / "new").mkdir(parents=True)
    (instance / "imports").mkdir()
    old_files = [
        instance / "tocsin.db",
        instance / "maildir" / "new" / "1.old",
        instance / "imports" / "1-old-report.csv",
    ]
    for path in old_files:
        path.write_bytes(b"")
        path.chmod(0o644)
    for folder in (instance, instance / "maildir", instance / "maildir" / "new"):
        folder.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    environment["TOCSIN_DATA_DIR"] = str(instance)
    result = subprocess.run(
        [sys.executable, "-m", "app", "db", "upgrade"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    for path in old_files:
        assert mode(path) == 0o600, path
    for folder in (instance, instance / "maildir", instance / "maildir" / "new"):
        assert mode(folder) == 0o700, folder
    created = [p for p in instance.rglob("*") if p.is_file()]
    assert created and all(mode(p) == 0o600 for p in created), [(p, oct(mode(p))) for p in created]


@pytest.mark.slow
def test_tocsin_up_keeps_the_password_off_its_log_and_every_file_private(tmp_path):
    """`tocsin up` with its output going to a file (as a service manager or `> log` does):
    the file shows where the password is kept, never the password; the web process's
    request lines in it hold no token; every file it made is 0600, every folder 0700."""
    instance = tmp_path / "instance"
    port, smtp_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    environment["TOCSIN_DATA_DIR"] = str(instance)
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "up",
                "--port",
                str(port),
                "--smtp-port",
                str(smtp_port),
                "--workers",
                "1",
            ],
            env=environment,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: os.umask(0o022),
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/login", process, log_path, limit=300)
        secret = "SeCrEtPrEfErEnCeToKeN.abc"
        for path in (f"/p/{secret}", f"/u/{secret}"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            log_path.read_text().count("/[token]") >= 2 and (instance / "maildir").is_dir()
        ):  # the catcher makes its Maildir as it starts, which may be after the web answers
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log_path.read_text(errors="replace")
    saved = instance / "demo-login.txt"
    email, password = saved.read_text().split()[:2]
    assert f"Log in as:     {email}" in output
    assert password not in output
    assert f"Password:      (not shown here: see {saved})" in output
    assert "GET /p/[token] HTTP/1.1" in output and secret not in output
    assert mode(saved) == 0o600
    for path in [instance, *instance.rglob("*")]:
        if path.is_symlink():
            continue
        assert mode(path) == (0o700 if path.is_dir() else 0o600), (path, oct(mode(path)))
    assert (instance / "tocsin.db").exists() and (instance / "maildir").is_dir()


def test_the_banner_shows_the_password_on_a_terminal_only(tmp_path):
    from app.launcher import shown_password

    saved = tmp_path / "demo-login.txt"
    saved.write_text("organiser@example.org\nsecret\n")
    with open(os.devnull, "w") as not_a_terminal:
        assert shown_password("secret", saved, not_a_terminal) == (f"(not shown here: see {saved})")
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert shown_password("secret", saved, terminal) == "secret"
    os.close(leader)
    assert re.search("secret", shown_password("secret", tmp_path / "gone", io.StringIO()))
