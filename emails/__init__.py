"""Pure e-mail rendering: Jinja sandbox, Markdown, premailer, text part, MIME and headers.

Imports nothing from Flask, ``app`` or ``worker``: everything here works on plain strings.
"""
