"""API: referrals and their lifecycle (API.md, Referrals)."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now, page_of
from referral.schemas.referral import (
    CancelIn,
    CompleteIn,
    DeclineIn,
    ReferralArgs,
    ReferralIn,
    ReferralOut,
)
from referral.services import pseudonyms, referrals, sharing

blp = Blueprint("referrals", __name__, url_prefix="/api/v1", description="Referrals")
ReferralPage = page_of(ReferralOut, "ReferralPage")
RECEIVERS = ("facility_staff",)


def _answer(referral):
    db.session.commit()
    return sharing.referral_view(referral, actor().facility_id, now())


@blp.route("/referrals", methods=["POST"])
@allow(*STAFF)
@blp.arguments(ReferralIn)
@blp.response(201, ReferralOut)
@blp.alt_response(200, schema=ReferralOut, description="A replay of the same client_uuid")
def create(data):
    """Refer a case of the caller's facility (idempotent on client_uuid)."""
    referral, created = referrals.create(db.session, actor(), data, now=now(),
                                         ip=client_address())
    return _answer(referral), 201 if created else 200


@blp.route("/referrals", methods=["GET"])
@allow(*STAFF)
@blp.arguments(ReferralArgs, location="query")
@blp.response(200, ReferralPage)
def list_referrals(args):
    """Incoming and outgoing referrals of the caller's facility."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total = referrals.list_referrals(db.session, actor(), page=page, per_page=per_page,
                                            now=now(), ip=client_address(), **args)
    db.session.commit()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


@blp.route("/referrals/by-code/<string:code>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, ReferralOut)
def by_code(code: str):
    """The referral on a slip (R-XXXX-XXXX; case, dashes and prefix are forgiven)."""
    view = referrals.get_by_code(db.session, actor(), pseudonyms.normalize_slip_code(code),
                                 now=now(), ip=client_address())
    db.session.commit()
    return view


@blp.route("/referrals/<uuid:referral_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, ReferralOut)
def get(referral_id: UUID):
    """One referral sent or received by the caller's facility."""
    view = referrals.get(db.session, actor(), referral_id, now=now(), ip=client_address())
    db.session.commit()
    return view


@blp.route("/referrals/<uuid:referral_id>/accept", methods=["POST"])
@allow(*RECEIVERS)
@blp.response(200, ReferralOut)
def accept(referral_id: UUID):
    """Accept a pending referral (staff of the receiving facility)."""
    return _answer(referrals.accept(db.session, actor(), referral_id, now=now(),
                                    ip=client_address()))


@blp.route("/referrals/<uuid:referral_id>/decline", methods=["POST"])
@allow(*RECEIVERS)
@blp.arguments(DeclineIn)
@blp.response(200, ReferralOut)
def decline(body, referral_id: UUID):
    """Decline a pending referral with a reason code; the sender gets the next options."""
    return _answer(referrals.decline(db.session, actor(), referral_id, now=now(),
                                     ip=client_address(), **body))


@blp.route("/referrals/<uuid:referral_id>/complete", methods=["POST"])
@allow(*RECEIVERS)
@blp.arguments(CompleteIn)
@blp.response(200, ReferralOut)
def complete(body, referral_id: UUID):
    """Report what happened to an accepted referral."""
    return _answer(referrals.complete(db.session, actor(), referral_id, now=now(),
                                      ip=client_address(), **body))


@blp.route("/referrals/<uuid:referral_id>/cancel", methods=["POST"])
@allow(*STAFF)
@blp.arguments(CancelIn)
@blp.response(200, ReferralOut)
def cancel(body, referral_id: UUID):
    """Cancel a pending or accepted referral (the sending facility)."""
    return _answer(referrals.cancel(db.session, actor(), referral_id, now=now(),
                                    ip=client_address(), **body))
