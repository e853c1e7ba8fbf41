"""Signed tokens and keyed hashes: HMACs with a salt per purpose, never raw ids or addresses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from app.errors import InvalidInput
from app.models.base import utcnow


class InvalidToken(InvalidInput):
    """A token was tampered with, truncated or made for another purpose."""

    def __init__(self) -> None:
        super().__init__(_("This link is not valid. It may have been cut or changed."), "token")


class ExpiredToken(InvalidInput):
    """A genuine link that is too old to use."""

    def __init__(self) -> None:
        super().__init__(_("This link has expired. Subscribe again to get a new one."), "token")


# What itsdangerous's URLSafeSerializer writes: compact JSON, not ASCII-escaped.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


FORM_MAX_AGE = 86400  # seconds a sign-up form's "shown at" token is good for


def _milliseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Tokens:
    """Token maker bound to one secret key; cheap to build, safe to share."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._unsubscribe = URLSafeSerializer(secret, salt="tocsin-unsubscribe")
        self._confirm = URLSafeTimedSerializer(secret, salt="tocsin-confirm")
        self._form = URLSafeTimedSerializer(secret, salt="tocsin-form")
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

    def confirm(self, subscriber_uid: str, list_ids: list[int]) -> str:
        """Return the token of a double opt-in link: who confirms which lists (it expires)."""
        return self._confirm.dumps([subscriber_uid, sorted(list_ids)])

    def read_confirm(self, token: str, max_age: int) -> tuple[str, list[int]]:
        """Return ``(subscriber_uid, list_ids)``; raise ``ExpiredToken`` or ``InvalidToken``."""
        try:
            subscriber_uid, list_ids = self._confirm.loads(token, max_age=max_age)
        except SignatureExpired:
            raise ExpiredToken() from None
        except (BadSignature, ValueError, TypeError):
            raise InvalidToken() from None
        return str(subscriber_uid), [int(i) for i in list_ids]

    def form_started(self, shown: datetime | None = None) -> str:
        """Return a token that records when a public form was shown (``shown``, by default
        now), to the millisecond: the signer's own timestamp has whole seconds only."""
        return self._form.dumps({"ms": _milliseconds(shown or utcnow())})

    def form_age(self, token: str) -> float | None:
        """Seconds, to the millisecond, since the form with this token was shown; ``None`` if
        forged, a day old, or made before times were kept in milliseconds (the form then
        asks for one more click)."""
        try:
            value = self._form.loads(token, max_age=FORM_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        shown = value.get("ms") if isinstance(value, dict) else None
        if not isinstance(shown, int) or isinstance(shown, bool):
            return None
        age = (_milliseconds(utcnow()) - shown) / 1000
        return age if age <= FORM_MAX_AGE else None

    def _signed(self, purpose: str, value: str) -> str:
        """Return ``value.signature``: one HMAC, cheap enough for every message."""
        signature = base64.urlsafe_b64encode(self._digest(purpose, value)[:16])
        return f"{value}.{signature.rstrip(b'=').decode()}"

    def _read_signed(self, purpose: str, token: str) -> str:
        value, _, _signature = token.rpartition(".")
        if not value or not hmac.compare_digest(self._signed(purpose, value), token):
            raise InvalidToken()
        return value

    def preferences(self, subscriber_uid: str) -> str:
        """Return the token of a subscriber's preference-centre link (no login needed)."""
        return self._signed("preferences", subscriber_uid)

    def read_preferences(self, token: str) -> str:
        """Return the subscriber uid of a preference-centre token; raise if forged."""
        return self._read_signed("preferences", token)

    def report(self, subscriber_uid: str, campaign_uid: str) -> str:
        """Return the token of a report-back link: who reports on which campaign."""
        return self._signed("report", f"{subscriber_uid}~{campaign_uid}")

    def read_report(self, token: str) -> tuple[str, str]:
        """Return ``(subscriber_uid, campaign_uid)`` of a report-back token; raise if forged."""
        subscriber_uid, _, campaign_uid = self._read_signed("report", token).partition("~")
        if not campaign_uid:
            raise InvalidToken()
        return subscriber_uid, campaign_uid

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
