"""Readers' pages, reached from links in messages and from sign-up forms: no login, no
cookies needed, each in the reader's language (Flask-Babel; see ``app.i18n``).

Owns the ``public`` blueprint's routes, one module per kind of page; the work behind them is
in ``app.readers`` and ``app.audience``. May import the domain packages and the platform
modules, never ``app.panel`` or ``worker``.
"""

from app.public import (  # noqa: F401  (each module adds its routes or error pages)
    archive_pages,
    errors,
    preference_pages,
    report_pages,
    signup_pages,
    unsubscribe_pages,
    webhook_pages,
)
from app.public.common import blueprint

__all__ = ["blueprint"]
