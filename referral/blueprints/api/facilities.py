"""API: facilities."""

from referral.blueprints.api import Blueprint

blp = Blueprint("facilities", __name__, url_prefix="/api/v1", description="facilities")
