"""Which addresses at the bounce domain take mail, and what each one is for.

``bounces+TOKEN@`` (VERP: the token names one message, opaquely), ``unsubscribe@`` (RFC 8058
mailto unsubscribes) and ``abuse@`` (complaints, ARF). The bounce domain is
``TOCSIN_BOUNCE_DOMAIN``, by default the domain of ``TOCSIN_FROM``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

VERP_TOKEN = re.compile(r"[a-z2-7]{16,64}")


class Mailbox(enum.StrEnum):
    BOUNCES = "bounces"
    UNSUBSCRIBE = "unsubscribe"
    ABUSE = "abuse"


@dataclass(frozen=True)
class Route:
    mailbox: Mailbox
    verp: str = ""  # the token of a ``bounces+TOKEN@`` address


def route(address: str, domain: str) -> Route | None:
    """What an address at the bounce domain is for, or ``None`` when Tocsin takes no mail at
    it (another domain, another local part, a malformed token)."""
    local, at, address_domain = address.strip().strip("<>").rpartition("@")
    if not at or address_domain.lower() != domain.lower():
        return None
    local = local.lower()
    if local in (Mailbox.UNSUBSCRIBE, Mailbox.ABUSE):
        return Route(Mailbox(local))
    base, plus, token = local.partition("+")
    if base == Mailbox.BOUNCES:
        if not plus:
            return Route(Mailbox.BOUNCES)
        if VERP_TOKEN.fullmatch(token):
            return Route(Mailbox.BOUNCES, token)
    return None


def routes(addresses: Iterable[str], domain: str) -> list[Route]:
    """The routes of those addresses that Tocsin takes mail at."""
    return [found for address in addresses if (found := route(address, domain)) is not None]
