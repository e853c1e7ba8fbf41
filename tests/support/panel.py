"""The panel through Flask's test client: logging in, CSRF tokens, reading pages."""

from __future__ import annotations

import re


def csrf_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def login(client, email="organiser@example.org", password="correct horse battery"):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


class Client:
    """A logged-in test client whose POSTs carry the session's CSRF token, as forms do."""

    def __init__(self, app) -> None:
        self.http = app.test_client()
        token = csrf_token(self.http, "/login")
        self.http.post(
            "/login",
            data={
                "email": "organiser@example.org",
                "password": "correct horse battery",
                "csrf_token": token,
            },
        )
        self.token = csrf_token(self.http, "/campaigns")

    def get(self, path: str, **options):
        return self.http.get(path, **options)

    def post(self, path: str, data: dict | None = None, **options):
        return self.http.post(path, data={**(data or {}), "csrf_token": self.token}, **options)

    def confirm(self, summary, **changes: str):
        """Press the confirmation page's button: post its form as the page holds it."""
        page = text(summary)
        form = page[page.index('<form method="post" action="/campaigns/') :]
        action = re.search(r'action="([^"]+)"', form).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        data = {**fields, "csrf_token": self.token, **changes}
        return self.http.post(action, data=data, follow_redirects=True)


def text(response) -> str:
    return response.get_data(as_text=True)


def flashed(response) -> list[str]:
    return re.findall(r'<p class="flash[^"]*" role="status">(.*?)</p>', text(response), re.S)


def logged_in_client(app, role: str = "owner", email: str = "organiser@example.org"):  # noqa: ANN001, ANN201
    """A test client logged in as a new organiser with ``role``."""
    from app.accounts import users

    password = "correct horse battery"
    users.create_user(email, password, role)
    client = app.test_client()
    login(client, email, password)
    return client


def signed_in(app, role: str):  # noqa: ANN001, ANN201
    """A test client logged in as a new organiser ``ROLE@example.org`` with that role."""
    return logged_in_client(app, role, f"{role}@example.org")
