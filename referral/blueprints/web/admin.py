"""Admin pages: accounts, the facility directory, the key ring's state, the audit chain.

Admins never see case contents here either: accounts, facilities, keys and the chain's
verdict only.
"""

import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from referral.blueprints.web import bp
from referral.blueprints.web.forms import body_from, load
from referral.blueprints.web.inbox import save_capacity
from referral.blueprints.web.pages import signed_in
from referral.errors import Conflict, Invalid
from referral.extensions import db
from referral.i18n import LANGUAGES
from referral.models import Facility
from referral.models.codes import ROLES, SERVICES
from referral.schemas.common import now
from referral.schemas.facility import FacilityUpdate
from referral.services import audit, crypto, directory, keys, users

ADMIN = ("admin",)
NULLABLE = ("admin_area", "address", "timezone", "capacity_total", "latitude", "longitude")


def _facilities():
    return list(db.session.scalars(db.select(Facility).order_by(Facility.country,
                                                                 Facility.name)))


@bp.get("/admin/users")
@signed_in(*ADMIN)
def admin_users(form=None, errors=None, status=200):
    return render_template("web/admin_users.html", users=users.list_users(db.session,
                                                                         current_user),
                           roles=ROLES, facilities=_facilities(), locales=LANGUAGES,
                           form=form or {}, errors=errors or {}), status


@bp.post("/admin/users")
@signed_in(*ADMIN)
def admin_create_user():
    form = request.form
    try:
        user, password = users.create(db.session, current_user,
                                      username=form.get("username", ""),
                                      role=form.get("role", ""),
                                      facility_code=form.get("facility"),
                                      locale=form.get("locale") or "es", now=now(),
                                      ip=request.remote_addr)
    except Invalid as exc:
        db.session.rollback()
        return admin_users(form=form, errors=exc.fields or {}, status=422)
    db.session.commit()
    # Shown on this page once, never put in a redirect, a flash message or the log.
    return render_template("web/admin_password.html", user=user, password=password,
                           created=True)


@bp.post("/admin/users/<uuid:user_id>/active")
@signed_in(*ADMIN)
def admin_set_active(user_id):
    active = request.form.get("active") == "yes"
    try:
        users.set_active(db.session, current_user, user_id, active, now=now(),
                         ip=request.remote_addr)
    except Conflict as exc:
        db.session.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for("web.admin_users"))
    db.session.commit()
    flash(_("Account reactivated.") if active else
          _("Account deactivated: its sessions have ended."))
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<uuid:user_id>/password")
@signed_in(*ADMIN)
def admin_reset_password(user_id):
    user, password = users.reset_password(db.session, current_user, user_id, now=now(),
                                          ip=request.remote_addr)
    db.session.commit()
    return render_template("web/admin_password.html", user=user, password=password,
                           created=False)


@bp.get("/admin/facilities")
@signed_in(*ADMIN)
def admin_facilities():
    return render_template("web/admin_facilities.html", facilities=_facilities())


@bp.get("/admin/facilities/<uuid:facility_id>")
@signed_in(*ADMIN)
def admin_facility(facility_id, errors=None, status=200):
    facility = directory.get_facility(db.session, facility_id)
    return render_template("web/admin_facility.html", facility=facility, services=SERVICES,
                           errors=errors or {}), status


def _facility_body(form) -> dict:
    body = body_from(form, text=("name", "admin_area", "address", "timezone"),
                     lists=("services",),
                     booleans=("active", "confidential", "accepts.minors",
                               "accepts.women_only", "accepts.trafficking_survivors"))
    for name, kind in (("capacity_total", int), ("latitude", float), ("longitude", float)):
        raw = form.get(name, "").strip()
        if raw:
            try:
                body[name] = kind(raw)
            except ValueError:
                body[name] = raw  # the schema names the field and says why
    for name in NULLABLE:
        if not form.get(name, "").strip():
            body[name] = None  # emptied on the page: cleared
    body["languages"] = [code for code in re.split(r"[\s,;]+", form.get("languages", ""))
                         if code]
    return body


@bp.post("/admin/facilities/<uuid:facility_id>")
@signed_in(*ADMIN)
def admin_update_facility(facility_id):
    data, errors = load(FacilityUpdate(), _facility_body(request.form))
    try:
        if errors:
            raise Invalid(fields=errors)
        directory.update_facility(db.session, current_user, facility_id, data, now=now(),
                                  ip=request.remote_addr)
    except Invalid as exc:
        db.session.rollback()
        return admin_facility(facility_id, errors=exc.fields or {}, status=422)
    db.session.commit()
    flash(_("Facility saved."))
    return redirect(url_for("web.admin_facility", facility_id=facility_id))


@bp.post("/admin/facilities/<uuid:facility_id>/capacity")
@signed_in(*ADMIN)
def admin_set_capacity(facility_id):
    save_capacity(facility_id)
    return redirect(url_for("web.admin_facility", facility_id=facility_id))


@bp.get("/admin/keys")
@signed_in(*ADMIN)
def admin_keys():
    rows = keys.status(db.session, crypto.keyring())
    return render_template("web/admin_keys.html", rows=rows)


@bp.route("/admin/audit", methods=["GET", "POST"])
@signed_in(*ADMIN)
def admin_audit():
    verdict = None
    if request.method == "POST":
        verdict = audit.verify(db.session)
        audit.record(db.session, "audit_verified", actor=current_user, ip=request.remote_addr,
                     now=now(), detail={"ok": verdict.ok, "events": verdict.events})
        db.session.commit()
    return render_template("web/admin_audit.html", verdict=verdict)
