"""Who is calling: bearer tokens or a session cookie, and which roles may use a view."""

from functools import wraps

from flask import g, request, session
from flask_login import current_user

from referral.errors import Forbidden, Unauthorized
from referral.extensions import db, login_manager
from referral.models import User
from referral.schemas.common import now
from referral.services import auth

STAFF = ("promoter", "facility_staff")
EVERYONE = ("promoter", "facility_staff", "manager", "admin")


@login_manager.user_loader
def _load_session_user(user_id: str):
    """A web session holds a bearer token of its own, so signing out, expiry and
    deactivation end it on the server, whatever the browser keeps."""
    raw = session.get("token")
    if not raw:
        return None
    record = auth.token_for(db.session, raw, now())
    if record is None or str(record.user_id) != user_id:
        return None
    return record.user


@login_manager.request_loader
def _load_token_user(req):
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    record = auth.token_for(db.session, token.strip(), now())
    if record is None:
        return None
    g.api_token = record
    return record.user


@login_manager.unauthorized_handler
def _unauthorized():
    raise Unauthorized()


def actor() -> User:
    """The authenticated user, or 401."""
    if not current_user.is_authenticated:
        raise Unauthorized()
    return current_user._get_current_object()


def client_address() -> str | None:
    return request.remote_addr


def allow(*roles):
    """Let only these roles in: 401 without credentials, 403 for any other role."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = actor()
            if user.role not in roles:
                raise Forbidden()
            return view(*args, **kwargs)

        wrapper._roles = roles
        return wrapper

    return decorator
