"""Why a provider's webhook request was refused: the typed errors of ``webhooks`` and
``sns``, which the door turns into statuses (404, 401, 403, 400, 502)."""

from __future__ import annotations

from app.errors import InvalidInput, NotFound, TocsinError


class WebhookOff(NotFound):
    """The provider's webhook is not configured: it does not exist."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"the {provider} webhook is not configured")


class Unverified(TocsinError):
    """The request does not prove it comes from the provider; ``reason`` says why, without
    any secret in it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoCredentials(Unverified):
    """The request carries no signature or credentials at all (or wrong HTTP credentials)."""


class Unreadable(InvalidInput):
    """The body is not the JSON the provider sends."""

    def __init__(self, reason: str = "the body is not JSON") -> None:
        super().__init__(reason, "body")


class NotConfirmed(TocsinError):
    """A verified SNS subscription confirmation whose SubscribeURL could not be visited."""
