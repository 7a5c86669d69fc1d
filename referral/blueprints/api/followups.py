"""API: follow-ups (GET /follow-ups, POST /cases/{id}/follow-ups, complete, cancel)."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.followup import (
    FollowUpArgs,
    FollowUpCancelIn,
    FollowUpCompleteIn,
    FollowUpIn,
    FollowUpOut,
    FollowUpPage,
)
from referral.services import followups

blp = Blueprint("followups", __name__, url_prefix="/api/v1", description="Follow-ups")


@blp.route("/follow-ups", methods=["GET"])
@allow(*STAFF)
@blp.arguments(FollowUpArgs, location="query")
@blp.response(200, FollowUpPage)
def list_follow_ups(args):
    """Follow-ups assigned to the caller's facility, overdue and soonest first."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total = followups.list_follow_ups(db.session, actor(), page=page, per_page=per_page,
                                             now=now(), ip=client_address(), **args)
    db.session.commit()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


@blp.route("/cases/<uuid:case_id>/follow-ups", methods=["POST"])
@allow(*STAFF)
@blp.arguments(FollowUpIn)
@blp.response(201, FollowUpOut)
def create_follow_up(data, case_id: UUID):
    """Schedule a follow-up of one of the caller's cases, at the caller's facility."""
    follow_up = followups.create(db.session, actor(), case_id, data, now=now(),
                                 ip=client_address())
    db.session.commit()
    return follow_up


@blp.route("/follow-ups/<uuid:follow_up_id>/complete", methods=["POST"])
@allow(*STAFF)
@blp.arguments(FollowUpCompleteIn)
@blp.response(200, FollowUpOut)
def complete(data, follow_up_id: UUID):
    """Record the outcome of a scheduled or overdue follow-up (409 otherwise)."""
    follow_up = followups.complete(db.session, actor(), follow_up_id, now=now(),
                                   ip=client_address(), **data)
    db.session.commit()
    return follow_up


@blp.route("/follow-ups/<uuid:follow_up_id>/cancel", methods=["POST"])
@allow(*STAFF)
@blp.arguments(FollowUpCancelIn, required=False)
@blp.response(200, FollowUpOut)
def cancel(data, follow_up_id: UUID):
    """Cancel a scheduled or overdue follow-up (409 otherwise); the body may be left out."""
    follow_up = followups.cancel(db.session, actor(), follow_up_id, now=now(),
                                 ip=client_address(), **data)
    db.session.commit()
    return follow_up
