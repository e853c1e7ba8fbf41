"""Email addresses as Tocsin stores and compares them: one spelling for each address."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidInput, Malformed


def normalize_email(email: str) -> str:
    """Return the address as stored (IDNA domain, lowercased); raise if it is not valid."""
    try:
        valid = validate_email(email.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise Malformed("email", email, f"a valid address: {exc}") from None
    address = (valid.ascii_email or valid.normalized).lower()
    if "=?" in address:
        # Legal in a local part, but mail software decodes it in a header as an encoded word.
        raise InvalidInput(f"{email!r} is not accepted: an address may not hold '=?'", "email")
    return address


def bounce_domain(config: Mapping[str, object]) -> str:
    """The domain of the addresses mail comes back to (``bounces+TOKEN@``, ``unsubscribe@``,
    ``abuse@``): ``TOCSIN_BOUNCE_DOMAIN``, else the domain of ``TOCSIN_FROM``. One domain
    for every campaign, whatever its sender: the one the receiver or mailbox reads."""
    configured = str(config.get("BOUNCE_DOMAIN") or "").strip().lower()
    if configured:
        return configured
    return parseaddr(str(config.get("MAIL_FROM", "")))[1].rpartition("@")[2].lower()
