"""Email addresses as Tocsin stores and compares them: one spelling for each address."""

from __future__ import annotations

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
