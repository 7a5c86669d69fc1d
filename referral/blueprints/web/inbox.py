"""Clinic and shelter staff: incoming referrals, finding one by its slip code, answering it."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from referral.blueprints.web import bp
from referral.blueprints.web.forms import body_from, flash_errors, load
from referral.blueprints.web.pages import signed_in
from referral.errors import Conflict, Invalid, NotFound
from referral.extensions import db
from referral.models.codes import DECLINE_REASONS, REFERRAL_OUTCOMES
from referral.schemas.common import now
from referral.schemas.referral import CompleteIn, DeclineIn
from referral.services import directory, intake, pseudonyms, referrals

RECEIVERS = ("facility_staff",)
PER_PAGE = 50


@bp.get("/inbox")
@signed_in(*RECEIVERS)
def inbox():
    page = max(1, request.args.get("page", 1, type=int))
    items, total = referrals.list_referrals(db.session, current_user, direction="incoming",
                                            page=page, per_page=PER_PAGE, now=now(),
                                            ip=request.remote_addr)
    db.session.commit()
    return render_template("web/inbox.html", items=items, total=total, page=page,
                           per_page=PER_PAGE)


@bp.post("/inbox/capacity")
@signed_in(*RECEIVERS)
def capacity():
    """Staff report their own facility's free places, which routing weighs."""
    save_capacity(current_user.facility_id)
    return redirect(url_for("web.inbox"))


def save_capacity(facility_id) -> None:
    """The free places sent in the form, recorded now (or why not, flashed)."""
    raw = request.form.get("capacity_available", "").strip()
    try:
        if not raw.isdigit():
            raise Invalid(fields={"capacity_available": ["Not a valid integer."]})
        directory.set_capacity(db.session, current_user, facility_id, int(raw), now=now(),
                               ip=request.remote_addr)
    except Invalid as exc:
        db.session.rollback()
        flash_errors(exc)
    else:
        db.session.commit()
        flash(_("Capacity saved."))


@bp.get("/inbox/find")
@signed_in(*RECEIVERS)
def find():
    code = request.args.get("code", "")
    try:
        found = referrals.get_by_code(db.session, current_user,
                                      pseudonyms.normalize_slip_code(code), now=now(),
                                      ip=request.remote_addr)
    except NotFound:
        db.session.commit()
        flash(_("No referral to your facility has this code."), "error")
        return redirect(url_for("web.inbox"))
    db.session.commit()
    return redirect(url_for("web.referral", referral_id=found.id))


@bp.get("/referrals/<uuid:referral_id>")
@signed_in(*RECEIVERS, "promoter")
def referral(referral_id):
    view = referrals.get(db.session, current_user, referral_id, now=now(),
                         ip=request.remote_addr)
    incoming = view.to_facility_id == current_user.facility_id
    case = None
    if view.pseudonym is not None:  # the referral still opens the case to this facility
        case = intake.visible_case(db.session, current_user, view.case_id, now=now())
        case = intake.views(db.session, current_user, [case], now())[0]
    db.session.commit()
    return render_template("web/referral.html", referral=view, case=case, incoming=incoming,
                           decline_reasons=DECLINE_REASONS, outcomes=REFERRAL_OUTCOMES)


def _answer(referral_id, action, message):
    try:
        action()
    except Invalid as exc:
        db.session.rollback()
        flash_errors(exc)
        return redirect(url_for("web.referral", referral_id=referral_id))
    except Conflict:
        db.session.rollback()
        flash(_("Someone changed this referral in the meantime: here it is as it is now."),
              "error")
        return redirect(url_for("web.referral", referral_id=referral_id))
    db.session.commit()
    flash(message)
    return redirect(url_for("web.referral", referral_id=referral_id))


@bp.post("/referrals/<uuid:referral_id>/accept")
@signed_in(*RECEIVERS)
def accept(referral_id):
    return _answer(referral_id, lambda: referrals.accept(
        db.session, current_user, referral_id, now=now(), ip=request.remote_addr),
        _("Accepted. The referring post has been told."))


def _validated(schema, form, **shape):
    data, errors = load(schema, body_from(form, **shape))
    if errors:
        raise Invalid(fields=errors)
    return data


@bp.post("/referrals/<uuid:referral_id>/decline")
@signed_in(*RECEIVERS)
def decline(referral_id):
    def act():
        body = _validated(DeclineIn(), request.form, text=("reason",), choices=("reason_code",))
        referrals.decline(db.session, current_user, referral_id, now=now(),
                          ip=request.remote_addr, **body)

    return _answer(referral_id, act, _("Declined. The referring post gets the next options."))


@bp.post("/referrals/<uuid:referral_id>/complete")
@signed_in(*RECEIVERS)
def complete(referral_id):
    def act():
        body = _validated(CompleteIn(), request.form, text=("notes",), choices=("outcome",))
        referrals.complete(db.session, current_user, referral_id, now=now(),
                           ip=request.remote_addr, **body)

    return _answer(referral_id, act, _("Outcome recorded."))
