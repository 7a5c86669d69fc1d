"""API: sync."""

from referral.blueprints.api import Blueprint

blp = Blueprint("sync", __name__, url_prefix="/api/v1", description="sync")
