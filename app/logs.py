"""What reaches the logs: no personal tokens, and an audit trail of who took addresses away.

The links in every message (``/p/``, ``/u/``, ``/c/``, ``/r/`` and preview links) carry a
signed token that opens a person's preference centre or unsubscribes them; a log line holding
one hands that power to whoever reads the log. Request logs therefore show ``[token]``
instead: the development server's (werkzeug) through a logging filter, gunicorn's access
log through ``GunicornLogger`` (``gunicorn -c python:app.gunicorn_config``), and the app's
own error log through the same filter.

``tocsin.audit`` records actions on addresses (exports, removed suppressions) at INFO; when
nothing else collects it, ``install`` sends it to standard error.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

AUDIT = "tocsin.audit"
REDACTED = "[token]"

# A token path segment after /p/, /u/, /c/ or /r/, also percent-encoded in a query (a `next`
# parameter, a referrer): tokens hold no `/`, `%`, `?`, `&`, `#`, quote or space.
_TOKEN = re.compile(r"(?i)((?:/|%2F)(?:p|u|c|r)(?:/|%2F))[^/%?&#\s\"'<>]+")
# A preview link is secret as a whole: everything after /preview-link/.
_PREVIEW = re.compile(r"(?i)((?:/|%2F)preview-link(?:/|%2F))[^?&#\s\"'<>]+")


def redact(text: str) -> str:
    """``text`` with every personal token (and preview-link path) replaced by ``[token]``."""
    if "/" not in text and "%" not in text:
        return text
    return _PREVIEW.sub(rf"\1{REDACTED}", _TOKEN.sub(rf"\1{REDACTED}", text))


class RedactTokens(logging.Filter):
    """Rewrite a record's message with its tokens redacted (its arguments merged in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a malformed record stays as it was)
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# Loggers that write request paths: werkzeug's development server, the app's own (an
# exception names the URL), gunicorn's.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def install(app: Flask) -> None:
    """Redact tokens in every logger that names request paths, and make ``tocsin.audit``
    heard. Safe to call again (nothing is added twice)."""
    for name in (*REQUEST_LOGGERS, app.logger.name):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    audit = logging.getLogger(AUDIT)
    if audit.level == logging.NOTSET:
        audit.setLevel(logging.INFO)
    if not any(getattr(h, "tocsin_audit", False) for h in audit.handlers):
        handler = _AuditHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        audit.addHandler(handler)


class _AuditHandler(logging.StreamHandler):
    """Standard error, for audit lines no other handler (root's, Celery's) would write."""

    tocsin_audit = True

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:  # the root logger writes it already
            return
        super().emit(record)


def audit(message: str, *args: Any) -> None:
    """Write one line to the audit log."""
    logging.getLogger(AUDIT).info(message, *args)


try:
    from gunicorn.glogging import Logger as _GunicornBase
except ImportError:  # gunicorn is only in the production image and the tests
    _GunicornBase = object  # type: ignore[assignment, misc]


class GunicornLogger(_GunicornBase):
    """gunicorn's logger, whose access log never holds a token: every value a log format
    may use (request line, path, query, referrer, headers, environment) is redacted."""

    # gunicorn's stubs close the atoms to a TypedDict of fixed keys; the real dict also has
    # one key per request header, response header and environment variable.
    def atoms(  # type: ignore[override]
        self, resp: Any, req: Any, environ: Any, request_time: Any
    ) -> dict[str, object]:
        atoms: Mapping[str, object] = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactTokens) for f in logger.filters):
                logger.addFilter(RedactTokens())
