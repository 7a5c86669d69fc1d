"""POST /auth/token, POST /auth/logout, GET /auth/me."""

from flask import g

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import EVERYONE, actor, allow, client_address
from referral.errors import RateLimited, Unauthorized
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.user import LoginIn, TokenOut, UserOut
from referral.services import auth

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Log in and out")


@blp.route("/token", methods=["POST"])
@blp.arguments(LoginIn)
@blp.response(200, TokenOut)
@blp.doc(security=[])
def token(args):
    """Exchange a username and password for a bearer token."""
    try:
        raw, record = auth.login(db.session, args["username"], args["password"],
                                 client_address(), now())
    except (Unauthorized, RateLimited):
        db.session.commit()  # the failure counts, and is audited
        raise
    db.session.commit()
    return {"token": raw, "expires_at": record.expires_at, "user": record.user}


@blp.route("/logout", methods=["POST"])
@allow(*EVERYONE)
@blp.response(204)
def logout():
    """Revoke the token in use."""
    record = getattr(g, "api_token", None)
    if record is None:
        raise Unauthorized("log out needs the bearer token to revoke")
    auth.logout(db.session, record, client_address(), now())
    db.session.commit()


@blp.route("/me", methods=["GET"])
@allow(*EVERYONE)
@blp.response(200, UserOut)
def me():
    """The calling user."""
    return actor()
