"""Delivery: the whole send path, steps 3-7 of "How a campaign is sent" (docs/sending.md).
The ledger hands out and claims batches under a lease (``ledger``); the per-batch loop
renders, sends over a persistent pipelined SMTP connection and records each outcome with
its re-check (``sending``, ``recording``, ``recording_sql``); what becomes of a row
(``outcomes``); the servers in order within their limits (``failover``, ``throttle``); the
SMTP client and what each reply means (``smtp``); the outbox's one-off mails
(``outbox_sending``). The loop talks to the database and the network only through the two
interfaces in ``ports``: ``Ledger`` and ``Transport``.

May import ``app.audience`` (suppressing an address that bounced), ``app.messages``, the
platform modules, ``app.models`` and ``emails``; never campaigns, the readers' pages, the web
doors or ``worker``, which calls it through thin tasks.
"""
