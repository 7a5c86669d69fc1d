"""API: cases."""

from referral.blueprints.api import Blueprint

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="cases")
