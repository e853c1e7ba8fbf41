"""Campaigns: what organisers write and decide. Drafts and their variants per language, the
language plan and the checks before a send (``readiness``), the life of a campaign after
its draft (``lifecycle``: send, schedule, pause, resume, cancel, resend), what its
deliveries came to (``results``), the summary confirmed before a send (``send_plans``),
campaign files for translators, the organisers' list of campaigns (``listing``) and copies
of a campaign as a new draft (``copies``).

May import ``app.delivery`` (starting a send writes the ledger), ``app.audience``,
``app.messages``, the platform modules and ``emails``; never the readers' pages, the web
doors or ``worker``.
"""
