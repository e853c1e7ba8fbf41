"""The return path: bounces, complaints and mailto unsubscribes, through every intake.

Owns the intakes (``receiver``: an SMTP/LMTP server the MTA hands mail to; ``mailboxes``:
IMAP and POP3 polling; ``webhooks``: provider events, signatures verified), the durable
queue they all write to before answering (``intake``), the readers that turn what came back
into ``findings`` (``parsing`` for mail: RFC 3464 DSNs, RFC 5965 ARF, flufl.bounce for the
rest; ``providers`` for webhook bodies), and ``applying``, which attributes each finding to
a delivery (by the VERP token or the Message-ID, both unguessable) and acts through
``app.audience.bounces`` (the scoring rules) and ``app.audience.subscriptions``.

May import ``app.audience``, ``app.campaigns``' models through ``app.models``, and the
platform modules; never a door (``app.panel``, ``app.public``) or ``app.delivery``.
"""
