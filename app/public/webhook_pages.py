"""Provider webhooks (``/webhooks/<provider>``): no login, no CSRF token, no cookie; the
provider's signature or credentials are the proof (``app.inbound.webhooks``). Answers are
short plain text, for the provider's delivery log."""

from __future__ import annotations

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import csrf
from app.inbound import webhooks
from app.inbound.intake import TooLarge
from app.inbound.refusals import NoCredentials, NotConfirmed, Unreadable, Unverified, WebhookOff
from app.public.common import blueprint

# Most specific first: NoCredentials is an Unverified.
REFUSALS = (
    (WebhookOff, 404),
    (NoCredentials, 401),
    (Unverified, 403),
    (Unreadable, 400),
    (TooLarge, 413),
    (NotConfirmed, 502),
)


@blueprint.post("/webhooks/<provider>")
@csrf.exempt  # the provider's signature is the proof
def webhook(provider: str) -> Response:
    """Verify a provider's event and store it for the worker; answer in plain text."""
    try:
        return _plain(webhooks.receive(provider, request.headers, request.get_data()), 200)
    except RequestEntityTooLarge:
        return _plain("the body is too large", 413)
    except (WebhookOff, Unverified, Unreadable, TooLarge, NotConfirmed) as exc:
        status = next(code for kind, code in REFUSALS if isinstance(exc, kind))
        response = _plain(str(exc) if status != 404 else "not found", status)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Tocsin webhooks"'
        return response


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")
