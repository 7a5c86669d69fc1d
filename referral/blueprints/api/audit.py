"""API: audit."""

from referral.blueprints.api import Blueprint

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="audit")
