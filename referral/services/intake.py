"""Intake: record a person's health needs at a facility, and read and update cases."""

import json
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral.errors import Conflict, Invalid, NotFound
from referral.models import Case, Consent, Referral, Subject, User
from referral.services import audit, crypto, duplicates, pseudonyms, scope, sharing

DIGEST_PURPOSE = "request-digest/v1"
IDENTITY = ("given_name", "family_name", "birth_date", "birth_year", "age_estimate", "phone")


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return "unknown"
    for upper, band in ((4, "0-4"), (11, "5-11"), (17, "12-17"), (29, "18-29"), (49, "30-49")):
        if age <= upper:
            return band
    return "50+"


def age_on(subject: Subject, day: date) -> int | None:
    """Age in whole years on a day, from the most precise of the subject's age fields."""
    if subject.birth_date is not None:
        born = subject.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    if subject.birth_year is not None:
        return day.year - subject.birth_year
    if subject.age_estimate is not None:
        return subject.age_estimate + max(0, day.year - subject.created_at.year)
    return None


def _canonical(value):
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k != "client_uuid"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, (date, datetime, uuid.UUID)):
        return str(value)
    return value


def request_digest(data: dict) -> str:
    """Keyed digest of a validated intake body (the server never keeps the body itself)."""
    text = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"))
    return crypto.keyring().digest(DIGEST_PURPOSE, text.encode())


def _replay(session: Session, actor: User, client_uuid, digest: str) -> Case | None:
    existing = session.scalar(sa.select(Case).where(Case.client_uuid == client_uuid))
    if existing is None:
        return None
    if existing.request_digest != digest or existing.facility_id != actor.facility_id:
        raise Invalid("this client_uuid was already used for other content",
                      fields={"client_uuid": ["Already used for a different case."]})
    return existing


def _new_subject(session: Session, actor: User, fields: dict, now: datetime) -> Subject:
    code = pseudonyms.generate()
    while session.scalar(sa.select(Subject.id).where(Subject.pseudonym == code)):
        code = pseudonyms.generate()
    subject = Subject(pseudonym=code, sex=fields.get("sex") or "unknown",
                      nationality=fields.get("nationality"),
                      languages=fields.get("languages") or [],
                      created_facility_id=actor.facility_id, created_at=now,
                      match_key=duplicates.key_of(fields))
    for name in IDENTITY:
        setattr(subject, name, fields.get(name))
    session.add(subject)
    return subject


def _existing_subject(session: Session, code: str) -> Subject:
    subject = session.scalar(sa.select(Subject).where(Subject.pseudonym == code))
    if subject is None:
        raise Invalid("no such pseudonym",
                      fields={"subject.pseudonym": ["No person with this pseudonym."]})
    if subject.erased_at is not None:
        raise Invalid("this person's record was erased",
                      fields={"subject.pseudonym": ["Erased: register the person anew."]})
    return subject


def create_case(session: Session, actor: User, data: dict, *, now: datetime,
                ip: str | None = None) -> tuple[Case, bool]:
    """Record an intake. Returns (case, created); a replay of the same body creates nothing."""
    scope.case_clause(actor)
    client_uuid = data.get("client_uuid")
    digest = request_digest(data) if client_uuid else None
    if client_uuid and (existing := _replay(session, actor, client_uuid, digest)):
        return existing, False
    fields = data["subject"]
    is_new = "pseudonym" not in fields
    subject = _new_subject(session, actor, fields, now) if is_new else _existing_subject(
        session, fields["pseudonym"])
    consent_data = data["consent"]
    consent = Consent(subject=subject, recorded_by=actor.id, created_at=now,
                      **consent_data)
    captured = data.get("captured_at")
    case = Case(
        subject=subject, facility_id=actor.facility_id, consent=consent,
        urgency=data["urgency"], travel_direction=data["travel_direction"],
        sex=subject.sex, nationality=subject.nationality,
        age_band=age_band(age_on(subject, (captured or now).date())),
        created_by=actor.id, created_at=now, captured_at=captured,
        client_uuid=client_uuid, request_digest=digest,
    )
    case.needs = data["needs"]
    case.vulnerabilities = data["vulnerabilities"]
    case.notes = data.get("notes")
    session.add_all([consent, case])
    if client_uuid:
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            # Another request with this client_uuid won the race: answer as a replay.
            replay = _replay(session, actor, client_uuid, digest)
            if replay is None:
                raise
            return replay, False
    else:
        session.flush()
    audit.record(session, "case_created", actor=actor, object_type="case", object_id=case.id,
                 ip=ip, now=now, detail={"subject": "new" if is_new else "existing",
                                         "subject_id": str(subject.id)})
    return case, True


def annotate(session: Session, cases: list[Case]) -> list[Case]:
    """Attach possible_duplicates to each case (one query for the whole page)."""
    found = duplicates.duplicates_of(session, [c.subject for c in cases])
    for case in cases:
        case.possible_duplicates = found.get(case.subject_id, [])
    return cases


def views(session: Session, actor: User, cases: list[Case], now: datetime) -> list:
    """Own cases as they are (with possible duplicates); shared ones through their view."""
    own = [c for c in cases if c.facility_id == actor.facility_id]
    annotate(session, own)
    levels = sharing.share_levels(session, actor.facility_id,
                                  [c.id for c in cases if c.facility_id != actor.facility_id],
                                  now)
    return [sharing.view_for(c, actor.facility_id, levels) for c in cases]


def list_cases(session: Session, actor: User, *, page: int, per_page: int, status=None,
               urgency=None, pseudonym=None, now: datetime, ip=None) -> tuple[list, int]:
    query = sa.select(Case).where(scope.case_clause(actor, now))
    if status:
        query = query.where(Case.status == status)
    if urgency:
        query = query.where(Case.urgency == urgency)
    if pseudonym:
        query = query.join(Subject, Case.subject_id == Subject.id).where(
            Subject.pseudonym == pseudonym)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = list(session.scalars(query.order_by(Case.created_at.desc(), Case.id)
                                 .limit(per_page).offset((page - 1) * per_page)))
    audit.record(session, "cases_listed", actor=actor, object_type="case", ip=ip, now=now,
                 detail={"case_ids": [str(c.id) for c in items]})
    return views(session, actor, items, now), total


def own_case(session: Session, actor: User, case_id) -> Case:
    """A case of the caller's own facility (the one that may refer it), else 404."""
    scope.case_clause(actor)
    case = session.scalar(sa.select(Case).where(Case.id == case_id,
                                                Case.facility_id == actor.facility_id))
    if case is None:
        raise NotFound()
    return case


def visible_case(session: Session, actor: User, case_id, *, now: datetime) -> Case:
    """A case the caller may see: their own, or one shared with them by a live referral."""
    case = session.scalar(sa.select(Case).where(Case.id == case_id,
                                                scope.case_clause(actor, now)))
    if case is None:
        raise NotFound()
    return case


def get_case(session: Session, actor: User, case_id, *, now: datetime, ip=None):
    case = visible_case(session, actor, case_id, now=now)
    audit.record(session, "case_read", actor=actor, object_type="case", object_id=case.id,
                 ip=ip, now=now, detail=None if case.facility_id == actor.facility_id
                 else {"shared": True})
    return views(session, actor, [case], now)[0]


MANUAL_STATUSES = {"open": {"closed"}, "referred": {"closed"}, "closed": {"open"}}


def update_case(session: Session, actor: User, case_id, changes: dict, *, now: datetime,
                ip=None) -> Case:
    case = own_case(session, actor, case_id)
    wanted = changes.get("status", case.status)
    if wanted != case.status and wanted not in MANUAL_STATUSES[case.status]:
        raise Invalid("this status is set by the referral workflow",
                      fields={"status": [f"Cannot go from {case.status} to {wanted} by hand."]})
    if case.subject.erased_at is not None and changes.get("notes"):
        raise Invalid("the person's record was erased", fields={"notes": ["Erased."]})
    if wanted == "closed" and case.status != "closed" and session.scalar(
            sa.select(Referral.id).where(Referral.case_id == case.id,
                                         Referral.status == "pending").limit(1)):
        # A receiving facility would otherwise accept a person the post no longer follows.
        raise Conflict("the case has pending referrals: cancel them before closing it")
    changed = sorted(name for name, value in changes.items() if getattr(case, name) != value)
    for name in changed:
        setattr(case, name, changes[name])
    if changed:
        case.updated_at = now
        if "status" in changed:
            case.closed_at = now if case.status == "closed" else None
    session.flush()
    audit.record(session, "case_updated", actor=actor, object_type="case", object_id=case.id,
                 ip=ip, now=now, detail={"fields": changed})
    return annotate(session, [case])[0]
