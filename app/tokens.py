"""Signed tokens and keyed hashes: HMACs with a salt per purpose, never raw ids or addresses.

Two keys, for two jobs. Links in mail (unsubscribe, preferences, report-back, confirm) are
signed with ``TOCSIN_SECRET_KEY``, which an operator rotates after a breach: new links are
signed with the current key only, and links already sent keep working while the old key is
listed in ``TOCSIN_SECRET_KEY_FALLBACKS``. Keyed hashes (addresses on the suppression list,
Message-IDs) use ``TOCSIN_HASH_KEY``, which is never rotated: the hash of an erased address
cannot be made again, so a new key would let that address be mailed. The database records a
fingerprint of the hash key its rows were made with, and nothing is hashed with another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select

from app.errors import ConfigError, InvalidInput
from app.models.base import utcnow


class InvalidToken(InvalidInput):
    """A token was tampered with, truncated or made for another purpose."""

    def __init__(self) -> None:
        super().__init__(_("This link is not valid. It may have been cut or changed."), "token")


class ExpiredToken(InvalidInput):
    """A genuine link that is too old to use."""

    def __init__(self) -> None:
        super().__init__(_("This link has expired. Subscribe again to get a new one."), "token")


class ExpiredLink(InvalidToken):
    """A genuine preference or report-back link past its lifetime, or made before links had
    one: the page offers to send a fresh link."""


# What itsdangerous's URLSafeSerializer writes: compact JSON, not ASCII-escaped.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


FORM_MAX_AGE = 86400  # seconds a sign-up form's "shown at" token is good for


def _milliseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Tokens:
    """Token maker bound to one secret key (and the old keys it still accepts); cheap to
    build, safe to share. New tokens are signed with ``secret`` only; a token is read with
    ``secret``, then each of ``fallbacks`` in turn."""

    def __init__(self, secret: str, fallbacks: Sequence[str] = ()) -> None:
        keys = [secret, *(key for key in fallbacks if key and key != secret)]
        self._macs = [hmac.new(key.encode(), digestmod=hashlib.sha256) for key in keys]
        # itsdangerous signs with the last key of a list and tries them all, newest first.
        newest_last = list(reversed(keys))
        self._unsubscribe = URLSafeSerializer(newest_last, salt="tocsin-unsubscribe")
        self._confirm = URLSafeTimedSerializer(newest_last, salt="tocsin-confirm")
        self._form = URLSafeTimedSerializer(newest_last, salt="tocsin-form")
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
        """Return ``(subscriber_uid, campaign_uid)``; raise ``InvalidToken`` if forged.

        Unsubscribe links have no lifetime: a one-click unsubscribe must always work."""
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

    def _signature(self, mac: hmac.HMAC, purpose: str, value: str) -> str:
        digest = mac.copy()
        digest.update(f"{purpose}:{value}".encode())
        return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()

    def _signed(self, purpose: str, value: str) -> str:
        """Return ``value.signature`` with the current key: one HMAC, cheap enough for every
        message."""
        return f"{value}.{self._signature(self._macs[0], purpose, value)}"

    def _verified(self, purpose: str, token: str) -> str | None:
        """Return the value of a token signed for ``purpose`` with any accepted key."""
        value, _, signature = token.rpartition(".")
        if not value:
            return None
        for mac in self._macs:
            if hmac.compare_digest(self._signature(mac, purpose, value), signature):
                return value
        return None

    def _read_dated(self, purpose: str, token: str, max_days: int, today: int | None) -> str:
        """Return the value of a dated token (``value~day``) no older than ``max_days``;
        raise ``ExpiredLink`` for an older one or one in the undated format of ``purpose``
        (links sent before links had a lifetime), ``InvalidToken`` for anything else."""
        value = self._verified(f"{purpose}-dated", token)
        if value is None:
            if self._verified(purpose, token) is not None:
                raise ExpiredLink()
            raise InvalidToken()
        value, _, day = value.rpartition("~")
        if not value or not day.isdigit():
            raise InvalidToken()
        if (today if today is not None else issue_day(utcnow())) - int(day) > max_days:
            raise ExpiredLink()
        return value

    def preferences(self, subscriber_uid: str, day: int | None = None) -> str:
        """Return the token of a subscriber's preference-centre link (no login needed),
        issued on ``day`` (``issue_day``, today by default): it stops working
        ``LINK_LIFETIME_DAYS`` later."""
        day = issue_day(utcnow()) if day is None else day
        return self._signed("preferences-dated", f"{subscriber_uid}~{day}")

    def read_preferences(self, token: str, today: int | None = None) -> str:
        """Return the subscriber uid of a preference-centre token; raise ``ExpiredLink``
        when it is too old, ``InvalidToken`` when forged."""
        return self._read_dated("preferences", token, LINK_LIFETIME_DAYS, today)

    def report(self, subscriber_uid: str, campaign_uid: str, day: int | None = None) -> str:
        """Return the token of a report-back link: who reports on which campaign, issued on
        ``day`` (today by default); it stops working ``LINK_LIFETIME_DAYS`` later."""
        day = issue_day(utcnow()) if day is None else day
        return self._signed("report-dated", f"{subscriber_uid}~{campaign_uid}~{day}")

    def read_report(self, token: str, today: int | None = None) -> tuple[str, str]:
        """Return ``(subscriber_uid, campaign_uid)`` of a report-back token; raise
        ``ExpiredLink`` when it is too old, ``InvalidToken`` when forged."""
        value = self._read_dated("report", token, LINK_LIFETIME_DAYS, today)
        subscriber_uid, _, campaign_uid = value.partition("~")
        if not campaign_uid:
            raise InvalidToken()
        return subscriber_uid, campaign_uid


LINK_LIFETIME_DAYS = 180  # a preference or report-back link works this long after its mail


def issue_day(moment: datetime) -> int:
    """The day a link is issued on, as days since 1970-01-01 (UTC): what dated tokens carry."""
    return int(moment.timestamp()) // 86400


class Hasher:
    """Keyed hashes of addresses and Message-IDs, with the hash key (never rotated)."""

    def __init__(self, key: str) -> None:
        self._mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
        self.fingerprint = fingerprint(key)

    def _digest(self, purpose: str, value: str) -> bytes:
        digest = self._mac.copy()
        digest.update(f"{purpose}:{value}".encode())
        return digest.digest()

    def email_hash(self, email: str) -> str:
        """Return the keyed hash of a normalised address (suppressions keep only this)."""
        return self._digest("address", email.lower()).hex()

    def message_id(self, campaign_uid: str, subscriber_uid: str, domain: str) -> str:
        """Return a Message-ID that is stable across retries and guessable by no one."""
        digest = self._digest("message-id", f"{campaign_uid}/{subscriber_uid}")[:20]
        local = base64.b32encode(digest).decode().lower().rstrip("=")
        return f"<{local}@{domain}>"


def fingerprint(key: str) -> str:
    """A short fingerprint of a hash key, safe to store: it tells keys apart, not the key.
    (The migration that first records it spells the same formula out.)"""
    return hmac.new(key.encode(), b"tocsin hash key fingerprint", hashlib.sha256).hexdigest()[:32]


def secret_fallbacks(config: Mapping[str, object]) -> list[str]:
    """The old secret keys still accepted for links already sent."""
    keys = config.get("SECRET_KEY_FALLBACKS") or []
    if not isinstance(keys, list | tuple):
        keys = [keys]  # one key set alone, never one per character of it
    return [str(key) for key in keys if key]


def hash_key(config: Mapping[str, object]) -> str:
    """The key of keyed hashes: ``TOCSIN_HASH_KEY``, else (as before it existed) the secret."""
    return str(config.get("HASH_KEY") or config["SECRET_KEY"])


def tokens() -> Tokens:
    """Return the token maker for the current app."""
    config = current_app.config
    return Tokens(config["SECRET_KEY"], secret_fallbacks(config))


HASH_KEY_SETTING = "hash_key_fingerprint"

log = logging.getLogger("tocsin")

# (database, fingerprint) pairs this process has found to match: one look a process.
_checked: set[tuple[str, str]] = set()
_warned: list[bool] = []  # the "TOCSIN_HASH_KEY is not set" warning, once a process


class HashKeyMismatch(ConfigError):
    """The configured hash key is not the one the database's hashes were made with."""

    def __init__(self) -> None:
        super().__init__(
            "the keyed hashes in this database (suppressed and erased addresses) were made "
            "with another key than the one configured, so suppressed addresses could be "
            "mailed again: nothing is hashed, sent or signed up until this is fixed. "
            "Set TOCSIN_HASH_KEY to the previous TOCSIN_SECRET_KEY (the key in use before it "
            "was rotated), or to the TOCSIN_HASH_KEY used before, and restart"
        )


def check_hash_key(key_fingerprint: str) -> None:
    """Make sure the database's keyed hashes were made with the key of ``key_fingerprint``;
    raise ``HashKeyMismatch`` when they were not. A database with no fingerprint yet records
    this one (in the caller's transaction)."""
    from app.database import insert_or_ignore
    from app.extensions import db
    from app.models import InstanceSetting

    place = (str(db.engine.url), key_fingerprint)
    if place in _checked:
        return
    recorded = db.session.scalar(
        select(InstanceSetting.value).where(InstanceSetting.name == HASH_KEY_SETTING)
    )
    if recorded is None:
        db.session.execute(
            insert_or_ignore(InstanceSetting.__table__).values(
                name=HASH_KEY_SETTING, value=key_fingerprint
            )
        )
        recorded = db.session.scalar(
            select(InstanceSetting.value).where(InstanceSetting.name == HASH_KEY_SETTING)
        )
    if recorded != key_fingerprint:
        log.error("refused to hash: %s", HashKeyMismatch())
        raise HashKeyMismatch()
    _checked.add(place)


def forget_checks() -> None:
    """Look at the recorded fingerprint again on the next hash (after it was changed)."""
    _checked.clear()


def hasher(config: Mapping[str, object] | None = None) -> Hasher:
    """Return the keyed hasher for the current app, once its key is known to be the one the
    database's hashes were made with."""
    config = config if config is not None else current_app.config
    made = Hasher(hash_key(config))
    check_hash_key(made.fingerprint)
    if not config.get("HASH_KEY") and not _warned:
        _warned.append(True)
        log.warning(
            "TOCSIN_HASH_KEY is not set: keyed hashes use TOCSIN_SECRET_KEY. Set "
            "TOCSIN_HASH_KEY to the current TOCSIN_SECRET_KEY before ever rotating that key"
        )
    return made
