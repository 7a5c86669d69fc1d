"""API: notifications (GET /notifications, POST /notifications/{id}/read)."""

from uuid import UUID

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.notification import NotificationArgs, NotificationOut, NotificationPage
from referral.services import notifications

blp = Blueprint("notifications", __name__, url_prefix="/api/v1",
                description="What the caller's facility must act on")


@blp.route("/notifications", methods=["GET"])
@allow(*STAFF)
@blp.arguments(NotificationArgs, location="query")
@blp.response(200, NotificationPage)
def list_notifications(args):
    """The facility's notifications, unread first then newest, with the unread count."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total, unread = notifications.list_notifications(
        db.session, actor(), page=page, per_page=per_page, now=now(), ip=client_address(),
        **args)
    db.session.commit()
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "unread": unread}


@blp.route("/notifications/<uuid:notification_id>/read", methods=["POST"])
@allow(*STAFF)
@blp.response(200, NotificationOut)
def read(notification_id: UUID):
    """Mark a notification read (reading it again keeps the first read_at)."""
    notification = notifications.mark_read(db.session, actor(), notification_id, now=now(),
                                           ip=client_address())
    db.session.commit()
    return notification
