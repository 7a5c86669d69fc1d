"""Reading a person by pseudonym, and finding possible matches by the blind index."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import NotFound
from referral.models import Case, Subject, User
from referral.services import audit, duplicates, intake, scope, sharing


def get_subject(session: Session, actor: User, code: str | None, *, now: datetime, ip=None):
    """The subject and the cases of it the caller may see; 404 when they see none.

    Receiving staff who see the person only through referrals get the shared view."""
    clause = scope.case_clause(actor, now)
    subject = session.scalar(sa.select(Subject).where(Subject.pseudonym == code)) if code else None
    cases = []
    if subject is not None:
        cases = list(session.scalars(
            sa.select(Case).where(Case.subject_id == subject.id, clause)
            .order_by(Case.created_at.desc())
        ))
    if not cases:
        raise NotFound()
    views = intake.views(session, actor, cases, now)
    if any(case.facility_id == actor.facility_id for case in cases):
        subject.possible_duplicates = duplicates.matches(session, subject.match_key, subject.id)
        shown = subject
    else:
        shown = sharing.shared_subject(subject, [view.share for view in views])
    shown.cases = views
    audit.record(session, "subject_read", actor=actor, object_type="subject",
                 object_id=subject.id, ip=ip, now=now)
    return shown


def match(session: Session, actor: User, fields: dict, *, now: datetime, ip=None) -> list[str]:
    """Pseudonyms of people whose identifying fields match, across facilities."""
    scope.case_clause(actor)
    found = duplicates.matches(session, duplicates.key_of(fields))
    audit.record(session, "subject_matched", actor=actor, object_type="subject", ip=ip,
                 now=now, detail={"matches": len(found)})
    return found
