"""API: subjects."""

from referral.blueprints.api import Blueprint

blp = Blueprint("subjects", __name__, url_prefix="/api/v1", description="subjects")
