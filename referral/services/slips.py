"""The referral slip: the paper the person carries to the receiving facility (API.md).

The slip travels in the person's pocket, so it holds no personal data (no name, birth
date, phone, nationality, notes, nor the referral's reason): only the slip code and its
QR code, the pseudonym, where to go, for what, and by when. A confidential facility is not
named, whoever prints the slip, and sensitive services read as "health care": a lost slip
must not lead anyone to a shelter, nor say what happened to the person.
Labels are Spanish first, then English.
"""

from datetime import datetime

import segno
from markupsafe import Markup
from sqlalchemy.orm import Session

from referral.errors import Conflict
from referral.i18n import zone_of
from referral.models import Facility, User
from referral.models.codes import LIVE_REFERRAL_STATUSES
from referral.services import audit, directory, pseudonyms, referrals

# (Spanish, English) for every code the slip shows.
SERVICE_LABELS = {
    "primary_care": ("Atención primaria", "Primary care"),
    "emergency_care": ("Atención de emergencia", "Emergency care"),
    "sexual_reproductive_health": ("Salud sexual y reproductiva",
                                   "Sexual and reproductive health"),
    "maternal_care": ("Atención materna", "Maternal care"),
    "hiv_sti": ("VIH e ITS", "HIV and STIs"),
    "tuberculosis": ("Tuberculosis", "Tuberculosis"),
    "mental_health": ("Salud mental", "Mental health"),
    "gbv_care": ("Atención por violencia de género", "Gender-based violence care"),
    "trafficking_protection": ("Protección contra la trata", "Anti-trafficking protection"),
    "child_protection": ("Protección de la niñez", "Child protection"),
    "shelter": ("Albergue", "Shelter"),
    "nutrition": ("Nutrición", "Nutrition"),
}
KIND_LABELS = {
    "border_post": ("Puesto fronterizo", "Border post"),
    "clinic": ("Clínica", "Clinic"),
    "hospital": ("Hospital", "Hospital"),
    "shelter": ("Albergue", "Shelter"),
    "mobile_unit": ("Unidad móvil", "Mobile unit"),
    "ngo_office": ("Oficina de ONG", "NGO office"),
}
URGENCY_LABELS = {
    "emergency": ("Emergencia", "Emergency"),
    "urgent": ("Urgente", "Urgent"),
    "routine": ("Ordinaria", "Routine"),
}
# Damaged or crumpled paper still scans: high error correction, and never a Micro QR,
# which most phone scanners cannot read.
QR_ERROR = "h"
# Services whose name alone would tell whoever finds the slip what happened to the person
# (violence, trafficking, HIV, a child at risk): printed under one neutral label.
SENSITIVE_SERVICES = {"gbv_care", "trafficking_protection", "hiv_sti", "child_protection",
                      "sexual_reproductive_health", "mental_health"}
NEUTRAL_SERVICE = ("Atención de salud", "Health care")
CONFIDENTIAL_NAME = ("Centro asignado: el personal le indicará cómo llegar",
                     "Assigned centre: staff will tell you how to get there")


def _label(labels: dict, code: str) -> dict:
    spanish, english = labels.get(code, (code, code))
    return {"es": spanish, "en": english}


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code (not Micro QR) of exactly `text`, sized by its viewBox."""
    qr = segno.make_qr(text, error=QR_ERROR)
    # segno writes only its own elements and escapes the title (a slip code anyway).
    svg = qr.svg_inline(omitsize=True, svgclass="qr", lineclass=None, title=text)
    return Markup(svg)  # noqa: S704


def _local(moment: datetime | None, zone) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _services(codes: list[str]) -> list[dict]:
    """Service labels, the sensitive ones folded into one neutral label."""
    shown = [_label(SERVICE_LABELS, c) for c in codes if c not in SENSITIVE_SERVICES]
    if any(c in SENSITIVE_SERVICES for c in codes):
        shown.append({"es": NEUTRAL_SERVICE[0], "en": NEUTRAL_SERVICE[1]})
    return shown


def _destination(facility: Facility) -> dict:
    """Where to go. A confidential facility is not even named: a lost slip naming a
    survivors' shelter would say who the person is and where to look for them."""
    if not directory.location_visible(facility, None):
        return {"name": CONFIDENTIAL_NAME[0], "name_en": CONFIDENTIAL_NAME[1], "kind": None,
                "address": None, "admin_area": None, "country": None}
    return {"name": facility.name, "name_en": None, "kind": _label(KIND_LABELS, facility.kind),
            "address": facility.address, "admin_area": facility.admin_area,
            "country": facility.country}


def slip_for(session: Session, actor: User, referral_id, *, now: datetime, ip=None) -> dict:
    """What the printed slip of a live referral shows, for its sending or receiving facility."""
    referral = referrals.visible(session, actor, referral_id)
    state = referral.status
    if state == "pending" and referral.expires_at <= now:
        state = "expired"  # not answered in time: the expiry job is about to take it
    if state not in LIVE_REFERRAL_STATUSES:
        # A declined, expired or closed referral would send the person to the wrong door.
        raise Conflict(f"a referral that is {state} has no slip to print")
    zone, zone_name = zone_of(session.get(Facility, referral.from_facility_id))
    code = pseudonyms.display_slip_code(referral.code)
    slip = {
        "code": code,
        "qr_svg": qr_svg(code),
        "pseudonym": pseudonyms.display(referral.pseudonym),
        "status": referral.status,
        "to_facility": _destination(session.get(Facility, referral.to_facility_id)),
        "services": _services(referral.services),
        "urgency": _label(URGENCY_LABELS, referral.urgency),
        "created_at": _local(referral.created_at, zone),
        "expires_at": _local(referral.expires_at, zone) if referral.status == "pending"
        else None,
        "accepted_at": _local(referral.responded_at, zone)
        if referral.status == "accepted" else None,
        "timezone": zone_name,
    }
    audit.record(session, "referral_slip_printed", actor=actor, object_type="referral",
                 object_id=referral.id, ip=ip, now=now,
                 detail={"case_id": str(referral.case_id)})
    return slip
