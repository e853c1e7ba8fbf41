"""A real Dovecot (IMAP and POP3, implicit TLS and STARTTLS) of the test's own, on free ports
of 127.0.0.1: its own configuration, run and state folders, a passwd-file with one user, a
Maildir, and a certificate signed by a private CA made here with ``cryptography``.

The machine's own Dovecot, if any, is never touched: ``dovecot -c CONF -F`` runs ours in the
foreground as a child of the test, and it is stopped when the test ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.smtp import free_port

# Characters a URL must encode, and one outside ASCII (SASL PLAIN carries it as UTF-8).
USER, PASSWORD = "bounces", "s3cret/Mäil@box#%&pass"
_SBIN = ("/usr/sbin", "/sbin")
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class Ports:
    imap: int
    imaps: int
    pop3: int
    pop3s: int


def dovecot_path() -> str:
    """The path of ``dovecot``; fails loudly when Debian's dovecot-imapd is missing."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path=os.pathsep.join(_SBIN))
    if found is None:
        raise AssertionError(
            "dovecot is missing: install Debian's dovecot-imapd and dovecot-pop3d "
            "(make test installs them when run as root)"
        )
    return found


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path) -> None:
    """A private CA (``ca.pem``) and a server certificate for 127.0.0.1 it signed
    (``server.pem``, ``server.key``)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Tocsin test CA"))
        .issuer_name(_name("Tocsin test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "server.key").chmod(0o600)


def _accounts() -> tuple[str, str, pwd.struct_passwd]:
    """Dovecot's internal and login users, and the owner of the mail: unprivileged system
    users when we are root, else ourselves (Dovecot then runs all of it as us)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me
    return "dovecot", "dovenull", pwd.getpwnam("nobody")


CONFIG = """\
instance_name = tocsin-test-{ports.imaps}
base_dir = {root}/run
state_dir = {root}/state
protocols = imap pop3
listen = 127.0.0.1
log_path = {root}/dovecot.log
auth_verbose = yes
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
pop3_uidl_format = %08Xu%08Xv
{extra}
# No growing delay after failed logins from one address (the tests fail some on purpose).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {ports.imap}
  }}
  inet_listener imaps {{
    port = {ports.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports.pop3}
  }}
  inet_listener pop3s {{
    port = {ports.pop3s}
    ssl = yes
  }}
}}
"""


class Dovecot:
    """One Dovecot instance and its mailbox; ``start`` waits (with a deadline) for every
    listener, and fails with Dovecot's log when it cannot."""

    def __init__(self, extra: str = "") -> None:
        # Dovecot's unprivileged processes read the certificate, users and mail under here.
        self.root = Path(tempfile.mkdtemp(prefix="tocsin-dovecot-"))
        self.root.chmod(0o755)
        self.ports = Ports(free_port(), free_port(), free_port(), free_port())
        self.process: subprocess.Popen[bytes] | None = None
        self.extra = extra
        internal, login, self.owner = _accounts()
        self.home = self.root / "home"
        self.maildir = self.home / "Maildir"
        make_certificates(self.root)
        for folder in ("run", "state"):
            (self.root / folder).mkdir(mode=0o755)
            (self.root / folder).chmod(0o755)  # under the app's umask too
        self._write_users()
        self.config = self.root / "dovecot.conf"
        self.config.write_text(
            CONFIG.format(
                root=self.root, ports=self.ports, internal=internal, login=login, extra=extra
            )
        )

    @property
    def cafile(self) -> Path:
        return self.root / "ca.pem"

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else "(no log written)"

    def _write_users(self) -> None:
        uid, gid = self.owner.pw_uid, self.owner.pw_gid
        users = self.root / "users"
        users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{self.home}::\n")
        users.chmod(0o644)  # Dovecot's auth process reads it as its own user (the app's umask)
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in (self.home, *self.home.rglob("*")):
            os.chown(path, uid, gid)

    def url(self, scheme: str, path: str = "", password: str = PASSWORD, **query: str) -> str:
        """The ``TOCSIN_BOUNCE_MAILBOX`` URL of this mailbox over one listener, with the
        private CA unless ``cafile=""`` is given."""
        port = {
            "imaps": self.ports.imaps,
            "imap": self.ports.imap,
            "pop3s": self.ports.pop3s,
            "pop3": self.ports.pop3,
        }[scheme]
        query = {"cafile": str(self.cafile), **query}
        pairs = "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items() if v)
        return f"{scheme}://{USER}:{quote(password, safe='')}@127.0.0.1:{port}{path}" + (
            f"?{pairs}" if pairs else ""
        )

    def deliver(self, name: str, raw: bytes) -> Path:
        """Put a message in the INBOX as an MTA would (``new/``), owned by the mail user."""
        path = self.maildir / "new" / f"1700000000.{name}.tocsin-test"
        path.write_bytes(raw)
        os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        return path

    def messages(self, folder: str = "") -> list[bytes]:
        """The messages a folder holds on disk (``""`` is the INBOX), whatever their flags."""
        base = self.maildir / f".{folder}" if folder else self.maildir
        return sorted(
            path.read_bytes()
            for sub in ("new", "cur")
            if (base / sub).is_dir()
            for path in (base / sub).iterdir()
            if path.is_file()
        )

    def start(self) -> None:
        with (self.root / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                [dovecot_path(), "-c", str(self.config), "-F"],  # -F: a child of the test
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        # Ready when the plain listeners greet (their login processes are up) and the TLS
        # ones accept connections.
        waiting = {
            self.ports.imap: b"* OK",
            self.ports.pop3: b"+OK",
            self.ports.imaps: b"",
            self.ports.pop3s: b"",
        }
        while waiting:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dovecot did not start:\n{self.output()}")
            waiting = {port: hi for port, hi in waiting.items() if not _greets(port, hi)}
            if waiting:
                time.sleep(0.02)

    def login_line(self, timeout: float = 5.0) -> str:
        """The log line of the first login (Dovecot's log process writes it a moment later)."""
        deadline = time.monotonic() + timeout
        while "Login: user=<" not in self.log:
            if time.monotonic() > deadline:
                raise AssertionError(f"no login in Dovecot's log:\n{self.log}")
            time.sleep(0.02)
        return self.log.split("Login: user=<", 1)[1].splitlines()[0]

    def output(self) -> str:
        stdout = (self.root / "stdout.log").read_text(errors="replace")
        return f"{stdout}\n--- dovecot.log ---\n{self.log}"

    def stop(self) -> None:
        """Kill the instance, all of its processes at once (its own process group), and remove
        its folder. Nothing of it needs a clean shutdown, and a graceful one waits seconds on
        login processes that were still starting."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _greets(port: int, greeting: bytes) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return False
        try:
            return sock.recv(100).startswith(greeting) if greeting else True
        except OSError:
            return False
