"""Signing up through the public form, as a stranger's browser does."""

from __future__ import annotations

import re


def form_token(client, slug="actions") -> str:
    page = client.get(f"/s/{slug}").get_data(as_text=True)
    return re.search(r'name="started" value="([^"]+)"', page).group(1)


def post(
    client, email, *, language="", name="", slug="actions", ip="198.51.100.7", started="", **extra
):
    started = started or form_token(client, slug)
    data = {"email": email, "name": name, "language": language, "started": started}
    return client.post(f"/s/{slug}", data={**data, **extra}, environ_base={"REMOTE_ADDR": ip})
