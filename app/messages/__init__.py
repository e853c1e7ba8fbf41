"""Messages: from a campaign or a system email to the bytes on the wire. Composing (template
values, personal links, footer words, From, DKIM), layouts, the wording of system emails,
previews and test sends, and the outbox that queues one-off mails for the worker.

May import the platform modules, ``app.models`` and ``emails``; nothing about who the
audience is beyond the rows it is handed, and no other domain package.
"""
