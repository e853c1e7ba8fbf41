"""Error pages of the public routes (400, 404, 405, 413, 500), in the reader's language.

A view that has already chosen a language (from the subscriber or the list) keeps it; an
error before that, or one raised while routing, speaks the browser's language. Anywhere
else the panel's own page answers (``app.panel.error_page``), in English: ``app.error_pages``
chooses between the two.
"""

from __future__ import annotations

from flask import current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.i18n import forget_language, speak
from app.public.common import blueprint


def _public_prefixes() -> tuple[str, ...]:
    """The fixed start of every public route (``/s/``, ``/u/``, ``/archive/`` …)."""
    return tuple(
        {
            rule.rule.split("<")[0]
            for rule in current_app.url_map.iter_rules()
            if rule.endpoint.startswith(f"{blueprint.name}.")
        }
    )


def is_public_request() -> bool:
    """Whether this request is for a public page (also when routing itself failed)."""
    if request.url_rule is not None:
        return request.blueprint == blueprint.name
    return request.path.startswith(_public_prefixes())


def error_page(error: HTTPException) -> ResponseReturnValue:
    """A small translated page with the error's status, for a public route."""
    if request.blueprint != blueprint.name:
        forget_language()  # no view ran: whatever ``g`` holds is another request's choice
    if "page_language" not in g:
        speak()
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    code = error.code or 500
    return render_template("public/error.html", code=code), code, headers
