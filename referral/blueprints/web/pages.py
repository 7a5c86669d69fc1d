"""Signing in and out, the language switch, where each role lands, and error pages."""

import logging
from functools import wraps
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from referral.blueprints.web import bp
from referral.errors import DomainError, RateLimited, Unauthorized
from referral.extensions import db
from referral.i18n import LANGUAGES
from referral.schemas.common import now
from referral.services import auth

log = logging.getLogger(__name__)
STAFF = ("promoter", "facility_staff")  # the roles that record and refer cases
HOME = {"promoter": "web.intake", "facility_staff": "web.inbox", "manager": "web.dashboard",
        "admin": "web.dashboard"}


def signed_in(*roles):
    """Pages for these roles: the sign-in page without a session, 403 for other roles."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if roles and current_user.role not in roles:
                return render_template("web/error.html", status=403), 403
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _local_target(target: str | None) -> str | None:
    """Only a path of this site: never send someone on to another host after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


@bp.get("/")
def root():
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    return redirect(url_for(HOME[current_user.role]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = _local_target(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target or url_for("web.root"))
        return render_template("web/login.html", next=target)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        token, record = auth.login(db.session, username, password, request.remote_addr, now())
    except Unauthorized:
        db.session.commit()  # the failure counts, and is audited
        return render_template("web/login.html", next=target, username=username,
                               error=_("Wrong username or password.")), 401
    except RateLimited as exc:
        db.session.commit()
        minutes = max(1, round(float(exc.headers.get("Retry-After", 60)) / 60))
        return render_template(
            "web/login.html", next=target, username=username,
            error=_("Too many failed attempts. Try again in %(minutes)d minutes.",
                    minutes=minutes)), 429
    db.session.commit()
    session.clear()  # a new session id on every sign-in: no fixation
    session["token"] = token
    session.permanent = True
    login_user(record.user)
    return redirect(target or url_for(HOME[record.user.role]))


@bp.post("/logout")
def logout():
    record = auth.token_for(db.session, session.get("token", ""), now())
    if record is not None:
        auth.logout(db.session, record, request.remote_addr, now())
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("web.login"))


@bp.post("/language")
def language():
    chosen = request.form.get("language")
    if chosen in LANGUAGES:
        session["language"] = chosen
        if current_user.is_authenticated:
            auth.set_locale(db.session, current_user, chosen)
            db.session.commit()
    return redirect(_local_target(request.form.get("next")) or url_for("web.root"))


def error_page(error):
    """An error as a page in the person's language (the API answers JSON instead)."""
    status = getattr(error, "status", None) or getattr(error, "code", None) or 500
    if status == 400 and not isinstance(error, CSRFError) or status >= 500:
        # A request no page should send: worth a line, with no value from the request.
        log.warning("page error %s %s: %s", status, type(error).__name__,
                    getattr(error, "description", ""))
    if status == 400 and isinstance(error, CSRFError):
        message = _("This form has expired. Go back, reload the page and send it again.")
    elif status == 401:
        return redirect(url_for("web.login"))
    else:
        message = None
    return render_template("web/error.html", status=status, message=message), status


bp.register_error_handler(DomainError, error_page)
bp.register_error_handler(HTTPException, error_page)
