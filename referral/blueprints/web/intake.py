"""Promoters' pages: the intake form, the case with its referral options, and referring."""

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from referral.blueprints.web import bp
from referral.blueprints.web.forms import (
    INTAKE,
    flash_errors,
    intake_body,
    load,
    referral_body,
)
from referral.blueprints.web.pages import STAFF, signed_in
from referral.errors import Conflict, Invalid
from referral.extensions import db
from referral.models.codes import (
    CONSENT_GIVERS,
    CONSENT_METHODS,
    NEEDS,
    SERVICE_OF_NEED,
    SERVICES,
    SEXES,
    SHARE_LEVELS,
    TRAVEL_DIRECTIONS,
    URGENCIES,
    VULNERABILITIES,
)
from referral.schemas.case import CaseIn
from referral.schemas.common import now
from referral.schemas.referral import ReferralIn
from referral.services import intake as intake_service
from referral.services import pseudonyms, referrals, routing

VOCABULARIES = {"needs": NEEDS, "vulnerabilities": VULNERABILITIES, "sexes": SEXES,
                "urgencies": URGENCIES, "directions": TRAVEL_DIRECTIONS,
                "methods": CONSENT_METHODS, "givers": CONSENT_GIVERS, "services": SERVICES,
                "share_levels": SHARE_LEVELS}

DEFAULTS = {"consent.method": "verbal", "consent.given_by": "self", "subject.sex": "unknown",
            "urgency": "routine", "travel_direction": "unknown"}


def _intake_form(form, errors, status=200):
    facility = current_user.facility
    return render_template("web/intake.html", form=form, errors=errors,
                           intake_shape=INTAKE, service_of_need=SERVICE_OF_NEED,
                           origin=[facility.latitude, facility.longitude],
                           **VOCABULARIES), status


@bp.get("/intake")
@signed_in(*STAFF)
def intake():
    # The id a double tap or a resent form carries: the server makes the case once.
    return _intake_form(MultiDict({"client_uuid": str(uuid.uuid4()), **DEFAULTS}), {})


@bp.post("/intake")
@signed_in(*STAFF)
def intake_submit():
    data, errors = load(CaseIn(), intake_body(request.form))
    if errors:
        return _intake_form(request.form, errors, 422)
    try:
        case, _created = intake_service.create_case(db.session, current_user, data, now=now(),
                                                    ip=request.remote_addr)
    except Invalid as exc:
        db.session.rollback()
        return _intake_form(request.form, exc.fields or {"_body": [exc.message]}, 422)
    db.session.commit()
    return redirect(url_for("web.case", case_id=case.id, new=1))


@bp.get("/cases/<uuid:case_id>")
@signed_in(*STAFF)
def case(case_id):
    found = intake_service.get_case(db.session, current_user, case_id, now=now(),
                                    ip=request.remote_addr)
    own = found.facility_id == current_user.facility_id
    suggested = referrals.services_for_needs(found.needs)
    chosen = [code for code in request.args.getlist("service") if code in SERVICES] \
        or suggested[:1]
    options = []
    consent = found.consent
    if own and consent.referral_sharing and consent.withdrawn_at is None \
            and found.subject.erased_at is None:
        options = routing.options_for(db.session, current_user, found.id, chosen, now=now(),
                                      ip=request.remote_addr)
    sent, _total = referrals.list_referrals(db.session, current_user, direction="outgoing",
                                            case_id=found.id, page=1, per_page=50, now=now(),
                                            ip=request.remote_addr) if own else ([], 0)
    db.session.commit()
    return render_template("web/case.html", case=found, own=own, options=options,
                           suggested=suggested, chosen=chosen, sent=sent,
                           new=request.args.get("new") == "1", **VOCABULARIES)


@bp.post("/cases/<uuid:case_id>/refer")
@signed_in(*STAFF)
def refer(case_id):
    data, errors = load(ReferralIn(), referral_body(request.form, case_id))
    try:
        if errors:
            raise Invalid(fields=errors)
        referral, _created = referrals.create(db.session, current_user, data, now=now(),
                                              ip=request.remote_addr)
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash_errors(exc)
        return redirect(url_for("web.case", case_id=case_id,
                                service=request.form.getlist("services")))
    db.session.commit()
    flash(_("Referred. Code %(code)s: print the slip for the person to carry.",
            code=pseudonyms.display_slip_code(referral.code)))
    return redirect(url_for("web.case", case_id=case_id))
