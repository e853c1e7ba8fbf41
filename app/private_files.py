"""Files that hold addresses are readable by the app's own user only.

The SQLite database, uploaded and report CSV files, the mail catcher's Maildir and the demo
login all hold addresses or secrets. Every Tocsin process (web, worker, beat, catcher,
``tocsin up`` and its children) creates files under a umask of 0o077: files 0600, folders
0700. What an earlier version created with looser modes is tightened when the app starts.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """New files 0600 and folders 0700 in this process and the processes it starts."""
    os.umask(PRIVATE_UMASK)


def _sqlite_files(url: str) -> list[Path]:
    """The files of an SQLite database URL (also a Celery ``sqla+sqlite`` broker)."""
    url = url.removeprefix("sqla+")
    if not url.startswith("sqlite"):
        return []
    with contextlib.suppress(Exception):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            return [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))]
    return []


def tighten(paths: Iterable[Path]) -> None:
    """Take group and other permissions off existing files and folders (recursively);
    anything not ours or gone meanwhile is left alone."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_symlink() or not path.exists():
                continue
            if path.is_dir():
                _chmod(path)
                for folder, dirs, files in os.walk(path):
                    for name in dirs + files:
                        child = Path(folder, name)
                        if not child.is_symlink():
                            _chmod(child)
            else:
                _chmod(path)


def _chmod(path: Path) -> None:
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)


def protect(config: dict[str, object], instance_path: str) -> None:
    """Set the umask and tighten what exists: the instance folder, the SQLite database and
    broker files, and the catcher's Maildir."""
    restrict_umask()
    paths = [Path(instance_path), Path(str(config.get("CATCHER_MAILDIR") or instance_path))]
    for key in ("SQLALCHEMY_DATABASE_URI", "BROKER_URL"):
        paths.extend(_sqlite_files(str(config.get(key) or "")))
    tighten(paths)
