"""API: POST /sync, offline batches from tablets."""

from flask import current_app

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.sync import SyncIn, SyncOut
from referral.services import sync as sync_service

blp = Blueprint("sync", __name__, url_prefix="/api/v1", description="Offline sync")


@blp.route("/sync", methods=["POST"])
@allow(*STAFF)
@blp.arguments(SyncIn)
@blp.response(200, SyncOut)
def sync(batch):
    """Upload items made offline; one result per item, in order."""
    results = sync_service.sync(db.session, actor(), batch,
                                max_items=current_app.config["SYNC_MAX_ITEMS"], now=now(),
                                ip=client_address())
    db.session.commit()
    return {"results": results}
