"""API: the service directory (GET/POST /facilities, GET/PATCH /facilities/{id}, capacity)."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import EVERYONE, STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.facility import (
    CapacityIn,
    FacilityArgs,
    FacilityIn,
    FacilityOut,
    FacilityPage,
    FacilityUpdate,
)
from referral.services import directory

blp = Blueprint("facilities", __name__, url_prefix="/api/v1",
                description="The service directory: border posts, clinics, shelters")


# Here `allow` runs before the body is parsed: a role that may never use the endpoint
# gets 403, not a list of what was wrong with its body.
@blp.route("/facilities", methods=["GET"])
@allow(*EVERYONE)
@blp.arguments(FacilityArgs, location="query")
@blp.response(200, FacilityPage)
def list_facilities(args):
    """The directory, by name, filtered by kind, country, service or active."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total = directory.list_facilities(db.session, page=page, per_page=per_page, **args)
    user = actor()
    return {"items": [directory.seen_by(f, user) for f in items], "page": page,
            "per_page": per_page, "total": total}


@blp.route("/facilities/<uuid:facility_id>", methods=["GET"])
@allow(*EVERYONE)
@blp.response(200, FacilityOut)
def get_facility(facility_id: UUID):
    """One facility (a confidential one's location only for admins and its own staff)."""
    return directory.seen_by(directory.get_facility(db.session, facility_id), actor())


@blp.route("/facilities", methods=["POST"])
@allow("admin")
@blp.arguments(FacilityIn)
@blp.response(201, FacilityOut)
def create_facility(data):
    """Add a facility to the directory (admins)."""
    facility = directory.create_facility(db.session, actor(), data, now=now(),
                                         ip=client_address())
    db.session.commit()
    return directory.seen_by(facility, actor())


@blp.route("/facilities/<uuid:facility_id>", methods=["PATCH"])
@allow("admin")
@blp.arguments(FacilityUpdate)
@blp.response(200, FacilityOut)
def update_facility(changes, facility_id: UUID):
    """Change some fields of a facility (admins)."""
    facility = directory.update_facility(db.session, actor(), facility_id, changes, now=now(),
                                         ip=client_address())
    db.session.commit()
    return directory.seen_by(facility, actor())


@blp.route("/facilities/<uuid:facility_id>/capacity", methods=["PATCH"])
@allow("admin", *STAFF)
@blp.arguments(CapacityIn)
@blp.response(200, FacilityOut)
def set_capacity(args, facility_id: UUID):
    """Report the places available now (admins, or the facility's own staff)."""
    facility = directory.set_capacity(db.session, actor(), facility_id,
                                      args["capacity_available"], now=now(),
                                      ip=client_address())
    db.session.commit()
    return directory.seen_by(facility, actor())
