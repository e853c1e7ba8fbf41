"""How people are shown to the organiser looking: the one place that decides.

Viewers see counts, not addresses. Editors and owners see a subscriber's address and name
whole; a viewer sees ``•••@domain`` for an address (the domain of a partner group's address
is usually the group's own, so it is useful and reveals little) and ``•••`` for a person's
name. Groups are organisations: their names are shown to everyone. Registered on the app's
Jinja environment by the panel as the filters ``address``, ``person_name`` and
``addresses_in`` (for free text such as an SMTP reply) and the global ``sees_people()``.
"""

from __future__ import annotations

import re

from flask_login import current_user

from app.audience import subscribers
from app.audience.filters import SubscriberFilter
from app.audience.subscribers import Page

MASK = "•••"
# Anything shaped like an address inside free text (an SMTP reply often quotes the recipient).
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\]\"',;:@]+@([A-Za-z0-9.-]+)")


def sees_people() -> bool:
    """Whether the organiser looking sees addresses and names whole (editors and owners)."""
    return bool(getattr(current_user, "is_authenticated", False) and current_user.can_edit)


def shown_address(address: str | None) -> str:
    """An address as the current organiser may see it: whole, or only its domain."""
    if not address:
        return ""
    if sees_people():
        return address
    local, at, domain = address.rpartition("@")
    return f"{MASK}@{domain}" if at and local and domain else MASK


def shown_name(name: str | None) -> str:
    """A person's name as the current organiser may see it: whole, or masked (empty stays
    empty, so a viewer still sees that no name is known)."""
    if not name:
        return ""
    return name if sees_people() else MASK


def search_subscribers(
    found: SubscriberFilter, after: str | None = None, limit: int = subscribers.PAGE_SIZE
) -> Page:
    """A page of subscribers in an order the current organiser may see: by address (or name)
    for editors and owners; by id for viewers, whose cursor would otherwise be an address or
    a name, and to whom the order itself would tell where an address falls."""
    if sees_people():
        return subscribers.search(found, after=after, limit=limit)
    return subscribers.search_by_id(found, after=after, limit=limit)


def addresses_masked(text: str | None) -> str:
    """Free text with every address in it shown as ``shown_address`` would."""
    if not text:
        return ""
    if sees_people():
        return text
    return _ADDRESS_IN_TEXT.sub(lambda m: f"{MASK}@{m.group(1)}", text)
