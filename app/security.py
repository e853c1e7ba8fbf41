"""What every response says about itself (CSP, framing, sniffing, referrers, caching) and how
large a request may be.

Pages run no inline script unless it carries this response's nonce (``csp_nonce()`` in
templates). Styles may be inline: the panel shows mail HTML in sandboxed ``srcdoc`` frames,
which inherit the page's policy, and mail HTML is all inline styles. A response that sets
its own policy (the public archive) keeps it, with ``frame-ancestors 'none'`` added.

Request bodies are capped at ``MAX_CONTENT_LENGTH``; the uploads in ``UPLOAD_LIMITS`` get
their own, larger cap, and only for a signed-in organiser who may use them, so nobody else
can make the server read a large body.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask, Response, current_app, g, request
from flask_login import current_user

from app.extensions import limiter
from app.public.errors import is_public_request

# Endpoint -> the setting holding its larger body limit.
UPLOAD_LIMITS = {
    "panel.imports_page": "IMPORT_MAX_BYTES",
    "panel.campaign_import": "CAMPAIGN_FILE_MAX_BYTES",
}
PANEL_CSP = (
    "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Set the cookie flags and install the hooks; call before other extensions read forms
    (the CSRF check does), so that an upload's own limit applies when its body is read."""
    https = str(app.config.get("BASE_URL", "")).startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = https
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.before_request(_request_limits)
    app.after_request(_response_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def csp_nonce() -> str:
    """This response's script nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return str(g.csp_nonce)


def _request_limits() -> None:
    # An app context (and its ``g``) may outlive one request, as in tests: each request
    # finds its own user and CSRF token from its own cookie.
    for name in ("_login_user", "csp_nonce", current_app.config.get("WTF_CSRF_FIELD_NAME")):
        g.pop(name or "csrf_token", None)
    setting = UPLOAD_LIMITS.get(request.endpoint or "")
    if (
        setting
        and request.method == "POST"
        and current_user.is_authenticated
        and current_user.can_edit
    ):
        request.max_content_length = int(current_app.config[setting])


def _response_headers(response: Response) -> Response:
    nonce = g.pop("csp_nonce", None)
    headers = response.headers
    own = headers.get("Content-Security-Policy")
    if own is None:
        scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
        headers["Content-Security-Policy"] = PANEL_CSP.format(scripts=scripts)
    elif "frame-ancestors" not in own:
        headers["Content-Security-Policy"] = f"{own}; frame-ancestors 'none'"
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if is_public_request():
        # Public URLs hold personal tokens (/p/, /u/, /c/, /r/): they never leave the page.
        headers.setdefault("Referrer-Policy", "no-referrer")
    else:
        # The CSRF check over HTTPS wants a same-origin Referer; other sites get none.
        headers.setdefault("Referrer-Policy", "same-origin")
    if request.blueprint == "panel":
        headers.setdefault("Cache-Control", "no-store")  # organisers' pages hold addresses
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.status_code == 429 and "Retry-After" not in headers:
        breached = limiter.current_limit
        wait = int(breached.reset_at - time.time()) if breached is not None else 60
        headers["Retry-After"] = str(max(1, wait))
    return response
