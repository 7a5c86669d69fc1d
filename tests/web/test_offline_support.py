"""What the tablet's offline code relies on: the worker script and /session.json."""

import json
import re

from tests.factories import UserFactory


def test_the_worker_keeps_the_shell_with_revisions_that_follow_the_files(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    manifest = json.loads(re.search(r"precacheAndRoute\((\[.*?\])\)", body).group(1))
    urls = {entry["url"] for entry in manifest}
    assert {"/static/offline.js", "/static/vault.js", "/static/app.js",
            "/static/vendor/idb/index.js"} <= urls
    for entry in manifest:  # every file the worker keeps is served, from here
        assert client.get(entry["url"]).status_code == 200
        assert len(entry["revision"]) == 16
    assert "https://" not in body and "http://" not in body  # nothing from elsewhere


def test_vendored_libraries_are_served_from_this_site(client):
    for path in ("/static/vendor/workbox/workbox-sw.js",
                 "/static/vendor/workbox/workbox-routing.prod.js",
                 "/static/vendor/idb/index.js"):
        assert client.get(path).status_code == 200, path


def test_session_json_names_nobody_without_a_session(client):
    response = client.get("/session.json")
    assert response.get_json() == {"username": None, "csrf_token": None}
    assert response.headers["Cache-Control"] == "no-store"


def test_the_token_from_session_json_lets_a_tablet_sync(signed_in):
    user = UserFactory()
    web = signed_in(user)
    state = web.client.get("/session.json").get_json()
    assert state["username"] == user.username
    item = {"client_uuid": "0b7e3f0e-6b55-4f6b-9d7e-1c2a3b4c5d6e", "kind": "case",
            "payload": {"subject": {}, "consent": {"data_collection": True}}}
    response = web.client.post("/api/v1/sync", json={"device_id": "web-x", "items": [item]},
                               headers={"X-CSRFToken": state["csrf_token"]})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "created"


def test_the_intake_page_carries_what_offline_intake_needs(signed_in):
    html = signed_in(UserFactory()).get("/intake").get_data(as_text=True)
    assert 'id="offline"' in html and 'type="module"' in html
    shape = json.loads(re.search(r'data-shape="([^"]+)"', html).group(1).replace("&#34;", '"'))
    assert "consent.data_collection" in shape["booleans"]
