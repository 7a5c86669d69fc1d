"""The web pages for tablets and desks: server-rendered, over the same services as the API.

Every page is signed-in through a Flask-Login session whose cookie carries a revocable
token; every form carries a CSRF token; every answer carries a strict Content-Security-
Policy (no inline script, nothing from another origin).
"""

import uuid

from flask import Blueprint, request, session
from flask_babel import format_datetime, format_percent, get_locale
from flask_login import current_user

from referral.blueprints.web import labels
from referral.extensions import csrf, db
from referral.i18n import LANGUAGES
from referral.services import notifications, pseudonyms

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


@bp.app_context_processor
def _page_helpers():
    return {
        "languages": LANGUAGES,
        "current_locale": lambda: str(get_locale() or "es"),
        "label": labels.label,
        "say": labels.say,
        "country_name": labels.country_name,
        "nationality_choices": labels.nationality_choices,
        "language_choices": labels.language_choices,
        "format_datetime": format_datetime,
        "format_percent": format_percent,
        "new_uuid": lambda: str(uuid.uuid4()),
        "unread_notifications": _unread_notifications,
    }


def _unread_notifications() -> int:
    if not current_user.is_authenticated:
        return 0
    return notifications.unread_count(db.session, current_user)


bp.add_app_template_filter(labels.language_name, "language_name")
bp.add_app_template_filter(pseudonyms.display, "pseudonym")
bp.add_app_template_filter(pseudonyms.display_slip_code, "slip_code")


@bp.before_app_request
def _check_csrf():
    """Forms of the pages, and API calls that ride on the session cookie, need the token."""
    if request.method in SAFE_METHODS:
        return
    cookie_api_call = (request.path.startswith("/api/")
                       and "Authorization" not in request.headers and session.get("token"))
    if request.blueprint == "web" or cookie_api_call:
        csrf.protect()


@bp.after_app_request
def _security_headers(response):
    if request.blueprint != "web":
        return response
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
    if response.mimetype == "text/html":
        # Pages hold personal data: never kept by a shared cache or the back button.
        headers["Cache-Control"] = "no-store"
    return response


from referral.blueprints.web import (  # noqa: E402,F401  (the routes)
    admin,
    dashboard,
    inbox,
    intake,
    offline,
    pages,
    worklist,
)
