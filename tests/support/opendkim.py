"""Verify messages with Debian's ``opendkim-testmsg`` against a DNS stub that we answer.

``opendkim-testmsg`` reads keys only from DNS, through the system resolver and
``/etc/resolv.conf``. So each check runs in private user, mount and network namespaces
(``unshare``): there loopback is ours, a stub on 127.0.0.1:53 answers the TXT records given,
and a resolv.conf naming it is bind-mounted over the real one, for that process tree only.
Nothing on the machine changes.

Run as a script (inside the namespaces) it takes a JSON file of records and message files and
prints, per message, the tool's exit status and what it wrote.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

TESTMSG = "opendkim-testmsg"
_SBIN = ("/usr/sbin", "/sbin")


def testmsg_path() -> str:
    """The path of ``opendkim-testmsg``; fails loudly when Debian's opendkim-tools is missing."""
    found = shutil.which(TESTMSG) or shutil.which(TESTMSG, path=os.pathsep.join(_SBIN))
    if found is None:
        raise AssertionError(
            "opendkim-testmsg is missing: install Debian's opendkim-tools "
            "(make test installs it when run as root)"
        )
    return found


@dataclass(frozen=True)
class Verdict:
    """What ``opendkim-testmsg`` said about one message."""

    status: int
    output: str

    @property
    def passed(self) -> bool:
        """Whether the message verified (exit status 0, nothing reported)."""
        return self.status == 0 and not self.output.strip()


def verify(messages: list[bytes], records: dict[str, bytes]) -> list[Verdict]:
    """Verify each message with opendkim, DNS answering ``records`` (name → TXT record)."""
    testmsg = testmsg_path()
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is needed to give opendkim a DNS stub"
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, message in enumerate(messages):
            path = Path(folder, f"message-{number}.eml")
            path.write_bytes(message)
            paths.append(str(path))
        plan = Path(folder, "plan.json")
        plan.write_text(
            json.dumps(
                {
                    "testmsg": testmsg,
                    "folder": folder,
                    "records": {name: record.decode("ascii") for name, record in records.items()},
                    "messages": paths,
                }
            )
        )
        command = [unshare, "--user", "--map-root-user", "--mount", "--net", sys.executable]
        done = subprocess.run(
            [*command, __file__, str(plan)], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, f"the opendkim check could not run: {done.stderr}"
    return [Verdict(status, output) for status, output in json.loads(done.stdout)]


def _loopback_up() -> None:
    """Bring up ``lo`` in the fresh network namespace (SIOCGIFFLAGS, then SIOCSIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14s", b"lo", flags | 0x1, b""))


def _bind_resolv_conf(folder: str) -> None:
    """Mount a resolv.conf naming 127.0.0.1 over the real one (this namespace only)."""
    ours = Path(folder, "resolv.conf")
    ours.write_text("nameserver 127.0.0.1\noptions edns0 attempts:1 timeout:2\n")
    libc = ctypes.CDLL(None, use_errno=True)
    ms_bind = 4096
    target = os.path.realpath("/etc/resolv.conf")
    if libc.mount(str(ours).encode(), target.encode(), None, ms_bind, None) != 0:
        raise OSError(ctypes.get_errno(), f"cannot bind-mount a resolv.conf over {target}")


def _serve_dns(records: dict[str, str]) -> None:
    """Answer TXT queries for ``records`` on 127.0.0.1:53 (UDP), NXDOMAIN for anything else."""
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    wanted = {name.lower().rstrip(".") + ".": record for name, record in records.items()}

    def answer() -> None:
        while True:
            data, peer = sock.recvfrom(4096)
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            record = wanted.get(question.name.to_text().lower())
            if record is None or question.rdtype != dns.rdatatype.TXT:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            else:
                # One TXT record of character-strings of at most 255 bytes each.
                chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
                reply.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, "TXT", chunks)
                )
            sock.sendto(reply.to_wire(), peer)

    threading.Thread(target=answer, daemon=True).start()


def _main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    _loopback_up()
    _bind_resolv_conf(plan["folder"])
    _serve_dns(plan["records"])
    verdicts = []
    for path in plan["messages"]:
        with open(path, "rb") as message:
            done = subprocess.run(
                [plan["testmsg"]], stdin=message, capture_output=True, text=True, timeout=30
            )
        verdicts.append((done.returncode, done.stdout + done.stderr))
    print(json.dumps(verdicts))


if __name__ == "__main__":
    _main(sys.argv[1])
