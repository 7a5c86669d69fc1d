"""API: ranked referral options for a case (GET /cases/{id}/referral-options)."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.routing import OptionArgs, OptionOut
from referral.services import routing

blp = Blueprint("referral_options", __name__, url_prefix="/api/v1",
                description="Where a case may be referred, best first")


@blp.route("/cases/<uuid:case_id>/referral-options", methods=["GET"])
@allow(*STAFF)
@blp.arguments(OptionArgs, location="query")
@blp.response(200, OptionOut(many=True))
def referral_options(args, case_id: UUID):
    """Facilities that may receive this case for every service asked, with reasons."""
    options = routing.options_for(db.session, actor(), case_id, args["service"], now=now(),
                                  limit=args["limit"], ip=client_address())
    db.session.commit()
    return options
