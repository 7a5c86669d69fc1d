"""API: the printable referral slip, an HTML page (API.md, Referrals)."""

import base64
import hashlib
import re
from uuid import UUID

from flask import make_response, render_template

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.services import slips

blp = Blueprint("slips", __name__, url_prefix="/api/v1", description="Referral slips")
STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
HTML_PAGE = {
    "description": "The slip, one printable A6 page (Spanish, then English): the slip code "
                   "and its QR code, the pseudonym, the receiving facility, the services "
                   "and the dates. No personal data.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _content_security_policy(html: str) -> str:
    """No scripts, no loads at all: only the page's own stylesheets, by hash."""
    digests = (base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
               for css in STYLE.findall(html))
    hashes = " ".join(f"'sha256-{digest}'" for digest in digests)
    return (f"default-src 'none'; style-src {hashes}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


@blp.route("/referrals/<uuid:referral_id>/slip", methods=["GET"])
@allow(*STAFF)
@blp.doc(responses={
    "200": HTML_PAGE,
    "404": {"description": "No such referral, or not the caller's to see", "content": ERROR},
    "409": {"description": "The referral is no longer pending or accepted", "content": ERROR},
})
def slip(referral_id: UUID):
    """The printable slip of a pending or accepted referral (sending or receiving facility)."""
    data = slips.slip_for(db.session, actor(), referral_id, now=now(), ip=client_address())
    db.session.commit()
    html = render_template("slip.html", slip=data)
    response = make_response(html)
    response.headers.update({
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": _content_security_policy(html),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })
    return response
