"""Which error page answers: the reader's, translated, on a public route (also when routing
itself failed there); the panel's own elsewhere.

A web-layer module like ``app.security``: it may import both doors (``app.public`` and
``app.panel``), which never import each other.
"""

from __future__ import annotations

from flask import Flask
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.panel import error_page as panel_page
from app.public.errors import error_page as public_page
from app.public.errors import is_public_request

HANDLED = (400, 404, 405, 413, 500)
PANEL_CODES = (404, 405, 500)  # the panel's own pages; 400 and 413 keep theirs


def error_page(error: HTTPException) -> ResponseReturnValue:
    """The public page on public routes, the panel's for the panel's codes, else Werkzeug's."""
    if is_public_request():
        return public_page(error)
    return panel_page(error) if error.code in PANEL_CODES else error


def init_app(app: Flask) -> None:
    """Answer each handled status with ``error_page``."""
    for code in HANDLED:
        app.register_error_handler(code, error_page)
