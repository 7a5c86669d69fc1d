"""Reading a person by pseudonym, and finding possible matches by the blind index."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import NotFound
from referral.models import Case, Subject, User
from referral.services import audit, duplicates, intake, scope


def get_subject(session: Session, actor: User, code: str | None, *, now: datetime,
                ip=None) -> Subject:
    """The subject and the cases of it the caller may see; 404 when they see none."""
    clause = scope.case_clause(actor)
    subject = session.scalar(sa.select(Subject).where(Subject.pseudonym == code)) if code else None
    cases = []
    if subject is not None:
        cases = list(session.scalars(
            sa.select(Case).where(Case.subject_id == subject.id, clause)
            .order_by(Case.created_at.desc())
        ))
    if not cases:
        raise NotFound()
    subject.cases = intake.annotate(session, cases)
    subject.possible_duplicates = duplicates.matches(session, subject.match_key, subject.id)
    audit.record(session, "subject_read", actor=actor, object_type="subject",
                 object_id=subject.id, ip=ip, now=now)
    return subject


def match(session: Session, actor: User, fields: dict, *, now: datetime, ip=None) -> list[str]:
    """Pseudonyms of people whose identifying fields match, across facilities."""
    scope.case_clause(actor)
    found = duplicates.matches(session, duplicates.key_of(fields))
    audit.record(session, "subject_matched", actor=actor, object_type="subject", ip=ip,
                 now=now, detail={"matches": len(found)})
    return found
