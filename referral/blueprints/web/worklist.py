"""Follow-ups to make and notifications to read, for promoters and facility staff."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from referral.blueprints.web import bp
from referral.blueprints.web.forms import body_from, flash_errors, load
from referral.blueprints.web.pages import STAFF, signed_in
from referral.errors import Conflict, Invalid
from referral.extensions import db
from referral.i18n import facility_zone
from referral.models.codes import FOLLOW_UP_OUTCOMES
from referral.schemas.common import now
from referral.schemas.followup import FollowUpCancelIn, FollowUpCompleteIn
from referral.services import followups, notifications


@bp.get("/follow-ups")
@signed_in(*STAFF)
def follow_ups():
    groups = followups.worklist(db.session, current_user, now=now(),
                                zone=facility_zone(current_user), ip=request.remote_addr)
    db.session.commit()
    return render_template("web/follow_ups.html", groups=groups, outcomes=FOLLOW_UP_OUTCOMES)


def _settle(follow_up_id, schema, shape, action, message):
    data, errors = load(schema, body_from(request.form, **shape))
    try:
        if errors:
            raise Invalid(fields=errors)
        action(db.session, current_user, follow_up_id, now=now(), ip=request.remote_addr,
               **data)
    except Invalid as exc:
        db.session.rollback()
        flash_errors(exc)
    except Conflict:
        db.session.rollback()
        flash(_("Someone settled this follow-up in the meantime."), "error")
    else:
        db.session.commit()
        flash(message)
    return redirect(url_for("web.follow_ups"))


@bp.post("/follow-ups/<uuid:follow_up_id>/complete")
@signed_in(*STAFF)
def complete_follow_up(follow_up_id):
    return _settle(follow_up_id, FollowUpCompleteIn(),
                   {"choices": ("outcome",), "text": ("notes",)}, followups.complete,
                   _("Follow-up recorded."))


@bp.post("/follow-ups/<uuid:follow_up_id>/cancel")
@signed_in(*STAFF)
def cancel_follow_up(follow_up_id):
    return _settle(follow_up_id, FollowUpCancelIn(), {"text": ("reason",)}, followups.cancel,
                   _("Follow-up cancelled."))


@bp.get("/notifications")
@signed_in(*STAFF)
def notifications_page():
    items, _total, unread = notifications.list_notifications(
        db.session, current_user, page=1, per_page=100, now=now(), ip=request.remote_addr)
    db.session.commit()
    return render_template("web/notifications.html", items=items, unread=unread)


def _target(item) -> str:
    """Where a notification leads: the referral to answer, the case, or the worklist."""
    if item.kind == "referral_received" and item.referral_id:
        return url_for("web.referral", referral_id=item.referral_id)
    if item.kind == "follow_up_overdue":
        return url_for("web.follow_ups")
    if item.case_id:
        return url_for("web.case", case_id=item.case_id)
    return url_for("web.notifications_page")


@bp.post("/notifications/<uuid:notification_id>/read")
@signed_in(*STAFF)
def read_notification(notification_id):
    """Mark it read and open what it is about."""
    item = notifications.mark_read(db.session, current_user, notification_id, now=now(),
                                   ip=request.remote_addr)
    db.session.commit()
    return redirect(_target(item))
