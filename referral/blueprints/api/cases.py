"""API: intake and cases (POST/GET /cases, GET/PATCH /cases/{id})."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.case import CaseArgs, CaseIn, CaseOut, CaseUpdate
from referral.schemas.common import now, page_of
from referral.services import intake

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Intake and cases")
CasePage = page_of(CaseOut, "CasePage")


@blp.route("/cases", methods=["POST"])
@allow(*STAFF)
@blp.arguments(CaseIn)
@blp.response(201, CaseOut)
@blp.alt_response(200, schema=CaseOut, description="A replay of the same client_uuid and body")
def create_case(data):
    """Record an intake (idempotent on client_uuid)."""
    case, created = intake.create_case(db.session, actor(), data, now=now(),
                                       ip=client_address())
    db.session.commit()
    intake.annotate(db.session, [case])
    return case, 201 if created else 200


@blp.route("/cases", methods=["GET"])
@allow(*STAFF)
@blp.arguments(CaseArgs, location="query")
@blp.response(200, CasePage)
def list_cases(args):
    """Cases of the caller's facility, newest first."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total = intake.list_cases(db.session, actor(), page=page, per_page=per_page,
                                     now=now(), ip=client_address(), **args)
    db.session.commit()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


@blp.route("/cases/<uuid:case_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, CaseOut)
def get_case(case_id: UUID):
    """One case the caller may see (404 otherwise)."""
    case = intake.get_case(db.session, actor(), case_id, now=now(), ip=client_address())
    db.session.commit()
    return case


@blp.route("/cases/<uuid:case_id>", methods=["PATCH"])
@allow(*STAFF)
@blp.arguments(CaseUpdate)
@blp.response(200, CaseOut)
def update_case(changes, case_id: UUID):
    """Change needs, urgency, vulnerabilities, notes or status."""
    case = intake.update_case(db.session, actor(), case_id, changes, now=now(),
                              ip=client_address())
    db.session.commit()
    return case


