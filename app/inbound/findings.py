"""What a message that came back says, before anyone is looked up: the common shape that
every reader (DSN, ARF, heuristic bounce, mailto unsubscribe, provider event) produces and
``applying`` acts on."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Said(enum.StrEnum):
    """What kind of thing came back."""

    FAILED = "failed"  # a delivery failed (a DSN with Action: failed, a provider's bounce)
    COMPLAINT = "complaint"  # a reader marked it as spam (ARF, a provider's complaint)
    UNSUBSCRIBE = "unsubscribe"  # a mailto unsubscribe (RFC 8058)


@dataclass(frozen=True)
class Finding:
    """One recipient's news from a message that came back.

    ``status`` is the RFC 3463 enhanced code ("5.1.1"), "" when none could be read: the
    scoring goes by it, never by the ``Action:`` word (kept in ``action`` for the record).
    ``message_id`` is the Message-ID of the mail that came back ("<…>"), ``verp`` the token
    of the ``bounces+TOKEN@`` address it came back to, ``token`` a mailto unsubscribe's
    token; each is "" when absent.
    """

    said: Said
    address: str = ""  # Final-Recipient / the reported recipient, lower-cased
    original_address: str = ""  # Original-Recipient, when the report gives one
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    message_id: str = ""
    verp: str = ""
    token: str = ""
    # A heuristic reader's own verdict (flufl.bounce), when no status code could be read.
    permanent: bool | None = None
    # Who read it: "dsn", "arf", "flufl", "mailto", or a provider's name.
    reader: str = ""
