"""Organiser accounts: users, Argon2 passwords, roles, activation, the server-side sessions
any of which can be ended (``users``), and the login throttle (``logins``).

May import the platform modules and ``app.models``; no domain package.
"""
