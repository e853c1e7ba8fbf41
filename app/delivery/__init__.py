"""Delivery: the whole send path, steps 3-7 of "How a campaign is sent" (docs/sending.md).
The ledger hands out and claims batches under a lease (``ledger``); the per-batch loop
renders, sends over a persistent pipelined SMTP connection and records each outcome with
its re-check (``sending``, ``recording``, ``recording_sql``); failover across servers and
the shared throttle (``throttle``); the SMTP client and what each reply means (``smtp``);
the outbox's one-off mails (``outbox_sending``).

May import ``app.audience`` (suppressing an address that bounced), ``app.messages``, the
platform modules, ``app.models`` and ``emails``; never campaigns, the readers' pages, the web
doors or ``worker``, which calls it through thin tasks.
"""
