"""The audience: who receives mail. Subscribers and their lists, partner groups, the
suppression list and blocked domains, the one subscriber filter that pages, counts, bulk
actions, exports and campaigns share, joining and leaving lists (sign-up requests, double
opt-in, unsubscribe), CSV imports and exports.

May import ``app.messages`` (a confirmation or goodbye mail is queued in the transaction
that subscribes or unsubscribes), the platform modules and ``app.models``; never the
campaigns, delivery, readers' pages, the web doors or ``worker``.
"""
