"""What readers do through the links in a message, with no login: the preference centre
(changes, data export, erasure), fresh links for expired ones, report-back, and the public
archive. The pages themselves are in ``app.public``.

May import ``app.campaigns``, ``app.audience``, ``app.messages``, the platform modules,
``app.models`` and ``emails``; never the web doors or ``worker``.
"""
