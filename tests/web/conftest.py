"""A browser-like client for the pages: signs in through the form, sends the CSRF token."""

import re

import pytest

from tests.factories import DEFAULT_PASSWORD

TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


class Browser:
    """The test client as a person with a browser uses the pages (forms, cookies, tokens)."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def get(self, path, **kwargs):
        response = self.client.get(path, **kwargs)
        found = TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path, data=None, **kwargs):
        if self.token is None:
            self.get("/login")
        form = {"csrf_token": self.token, **(data or {})}
        return self.client.post(path, data=form, **kwargs)

    def sign_in(self, user, password=DEFAULT_PASSWORD):
        self.get("/login")
        response = self.post("/login", {"username": user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.get(response.headers["Location"])  # as a browser would: a new page, a new token
        return response


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def signed_in(app):
    """A new browser already signed in as this user."""

    def make(user):
        web = Browser(app.test_client())
        web.sign_in(user)
        return web

    return make
