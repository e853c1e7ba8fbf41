"""Signed tokens and keyed hashes: HMACs with a salt per purpose, never raw ids or addresses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import InvalidInput


class InvalidToken(InvalidInput):
    """A token was tampered with, truncated or made for another purpose."""

    def __init__(self) -> None:
        super().__init__("This link is not valid. It may have been cut or changed.", "token")


# What itsdangerous's URLSafeSerializer writes: compact JSON, not ASCII-escaped.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Tokens:
    """Token maker bound to one secret key; cheap to build, safe to share."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._unsubscribe = URLSafeSerializer(secret, salt="tocsin-unsubscribe")
        # The signer's derived key and HMAC state, computed once: itsdangerous derives the
        # key again on every dumps(), which is most of its cost on the per-message path.
        signer = self._unsubscribe.make_signer()
        self._unsubscribe_mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        self._unsubscribe_sep = signer.sep

    def unsubscribe(self, subscriber_uid: str, campaign_uid: str) -> str:
        """Return the token of a one-click unsubscribe link for one recipient of a campaign.

        The same token as ``URLSafeSerializer.dumps`` (which ``read_unsubscribe`` reads),
        except that it is never zlib-compressed: a pair of random uids never shrinks.
        """
        payload = _b64(_COMPACT_JSON.encode([subscriber_uid, campaign_uid]).encode("utf-8"))
        mac = self._unsubscribe_mac.copy()
        mac.update(payload)
        return (payload + self._unsubscribe_sep + _b64(mac.digest())).decode("ascii")

    def read_unsubscribe(self, token: str) -> tuple[str, str]:
        """Return ``(subscriber_uid, campaign_uid)``; raise ``InvalidToken`` if forged."""
        try:
            subscriber_uid, campaign_uid = self._unsubscribe.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise InvalidToken() from None
        return str(subscriber_uid), str(campaign_uid)

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()

    def email_hash(self, email: str) -> str:
        """Return the keyed hash of a normalised address (suppressions keep only this)."""
        return self._digest("address", email.lower()).hex()

    def message_id(self, campaign_uid: str, subscriber_uid: str, domain: str) -> str:
        """Return a Message-ID that is stable across retries and guessable by no one."""
        digest = self._digest("message-id", f"{campaign_uid}/{subscriber_uid}")[:20]
        local = base64.b32encode(digest).decode().lower().rstrip("=")
        return f"<{local}@{domain}>"


def tokens() -> Tokens:
    """Return the token maker for the current app."""
    return Tokens(current_app.config["SECRET_KEY"])
