"""What the tablet needs to work offline: the service worker, and who is signed in.

The service worker (Workbox, vendored) keeps the app shell, the intake page and the
facility directory. Intakes made offline wait in the browser, encrypted under a key
derived from the promoter's PIN (static/offline.js), and go up through POST /api/v1/sync.
"""

import hashlib
from functools import cache
from pathlib import Path

from flask import jsonify, make_response, render_template
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from referral.blueprints.web import bp

STATIC = Path(__file__).parent / "static"
# The app shell: kept at install, refreshed whenever one of these files changes.
SHELL = ("app.css", "app.js", "offline.js", "vault.js", "vendor/idb/index.js")


@cache
def shell_manifest() -> list[dict]:
    """Workbox precache entries, each with a revision that changes with the file."""
    return [{"url": f"/static/{name}",
             "revision": hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]}
            for name in SHELL]


@bp.get("/sw.js")
def service_worker():
    response = make_response(render_template("web/sw.js", shell=shell_manifest()))
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"  # a new version is found at once
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/session.json")
def session_state():
    """Who is signed in here, and a fresh CSRF token: what the tablet needs to sync."""
    if not current_user.is_authenticated:
        response = jsonify({"username": None, "csrf_token": None})
    else:
        response = jsonify({"username": current_user.username, "csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response
