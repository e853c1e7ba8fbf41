"""A real Postfix (Debian's), started by a test with its own configuration on free ports.

It takes mail from Tocsin on ``smtp_port`` like a relay would, hands mail for
``example.net`` to a test SMTP server (the "internet"), and mail for the bounce domain to
Tocsin's receiver over LMTP, as an installation's ``transport_maps`` would. Its own log is
``postfix.log`` in its folder. Fails loudly when it cannot start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.smtp import free_port, listening

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.example.net
mydomain = example.net
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains =
transport_maps = texthash:{root}/etc/transport
default_transport = error:5.4.4 no delivery outside the test
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtp_dns_support_level = disabled
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
"""


class Postfix:
    """One Postfix instance: ``start()``, ``stop()``, ``log()``."""

    def __init__(self, next_hop_port: int, receiver_port: int, bounce_domain: str) -> None:
        # Postfix's own users must reach the folder: not under a private test folder.
        self.root = Path(tempfile.mkdtemp(prefix="tocsin-postfix-"))
        self.root.chmod(0o755)
        self.smtp_port = free_port()
        etc = self.root / "etc"
        for folder in (etc, self.root / "queue", self.root / "data"):
            folder.mkdir(mode=0o755)
            folder.chmod(0o755)  # whatever the test process's umask
        shutil.chown(self.root / "data", "postfix")
        (etc / "main.cf").write_text(MAIN_CF.format(root=self.root))
        (etc / "master.cf").write_text(self._master_cf())
        (etc / "transport").write_text(
            f"example.net smtp:[127.0.0.1]:{next_hop_port}\n"
            f"{bounce_domain} lmtp:inet:127.0.0.1:{receiver_port}\n"
        )

    def _master_cf(self) -> str:
        """Debian's services, none chrooted (the chroot lacks this folder), and one SMTP
        listener on our port instead of port 25."""
        lines = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            fields = line.split()
            if line[:1].isalpha() and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    continue
                fields[4] = "n"
                line = "  ".join(fields)
            lines.append(line)
        lines.append(f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd")
        return "\n".join(lines) + "\n"

    def _postfix(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.root / "etc"), *arguments],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            # Postfix makes its queue folders for its own users: not under the app's umask.
            preexec_fn=lambda: os.umask(0o022),
        )

    def start(self) -> None:
        if os.geteuid() != 0 or not Path(POSTFIX).exists():
            pytest.fail("these tests start Debian's Postfix as root (apt-get install postfix)")
        result = self._postfix("start")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if listening(self.smtp_port):
                return
            time.sleep(0.1)
        pytest.fail(
            f"Postfix did not start (exit {result.returncode}): {result.stderr}\n{self.log()}"
        )

    def stop(self) -> None:
        self._postfix("abort")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def bounced(self, address: str) -> bool:
        """Whether Postfix's log says it bounced mail for ``address`` (status=bounced)."""
        return re.search(rf"to=<{re.escape(address)}>.*status=bounced", self.log()) is not None
