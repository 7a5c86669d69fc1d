"""Erasure by crypto-shredding (DESIGN.md: Forgettable).

The subject's data key is deleted and its encrypted columns nulled, so every identifying
and free-text field reads as null everywhere. The coarse plain columns stay, so counts
survive. Old backups still hold the key wrapped by the KEK of their day: erasure is
complete once that KEK is rotated out and destroyed.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import NotFound
from referral.models import Case, DataKey, FollowUp, Referral, Subject, User
from referral.models.encrypted import encrypted_fields
from referral.services import audit


def _null_encrypted(session: Session, model, where) -> None:
    columns = {field.storage_attr.lstrip("_"): None
               for field in encrypted_fields(model).values()}
    session.execute(sa.update(model).where(where).values(**columns)
                    .execution_options(synchronize_session=False))


def shred(session: Session, subject_ids, *, now: datetime) -> None:
    """Crypto-shred many subjects at once: `subject_ids` is a list or a SELECT of ids.

    Deletes their data keys and nulls every encrypted column that belongs to them
    (subject, cases, referrals, follow-ups); the coarse plain columns stay."""
    cases = sa.select(Case.id).where(Case.subject_id.in_(subject_ids))
    session.execute(sa.delete(DataKey).where(DataKey.subject_id.in_(subject_ids))
                    .execution_options(synchronize_session=False))
    _null_encrypted(session, Subject, Subject.id.in_(subject_ids))
    _null_encrypted(session, Case, Case.subject_id.in_(subject_ids))
    _null_encrypted(session, Referral, Referral.case_id.in_(cases))
    _null_encrypted(session, FollowUp, FollowUp.case_id.in_(cases))
    # The idempotency digests are keyed hashes of bodies that held names: a guess could be
    # confirmed against them, as against the blind index.
    for model, owner in ((Case, Case.subject_id.in_(subject_ids)),
                         (Referral, Referral.case_id.in_(cases))):
        session.execute(sa.update(model).where(owner).values(request_digest=None)
                        .execution_options(synchronize_session=False))
    session.execute(sa.update(Subject).where(Subject.id.in_(subject_ids),
                                             Subject.erased_at.is_(None))
                    .values(match_key=None, erased_at=now)
                    .execution_options(synchronize_session=False))


def erase_subject(session: Session, actor: User, code: str | None, *, now: datetime,
                  ip=None) -> Subject:
    subject = session.scalar(sa.select(Subject).where(Subject.pseudonym == code)) if code else None
    if subject is None:
        raise NotFound()
    if subject.erased_at is None:
        shred(session, [subject.id], now=now)
        session.expire_all()
        subject.forget_data_key()
        audit.record(session, "subject_erased", actor=actor, object_type="subject",
                     object_id=subject.id, ip=ip, now=now)
    return subject
