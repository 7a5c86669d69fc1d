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
from referral.models import Case, DataKey, Subject, User
from referral.models.encrypted import encrypted_fields
from referral.services import audit


def _null_encrypted(session: Session, model, where) -> None:
    columns = {field.storage_attr.lstrip("_"): None
               for field in encrypted_fields(model).values()}
    session.execute(sa.update(model).where(where).values(**columns)
                    .execution_options(synchronize_session=False))


def erase_subject(session: Session, actor: User, code: str | None, *, now: datetime,
                  ip=None) -> Subject:
    subject = session.scalar(sa.select(Subject).where(Subject.pseudonym == code)) if code else None
    if subject is None:
        raise NotFound()
    if subject.erased_at is None:
        session.execute(sa.delete(DataKey).where(DataKey.subject_id == subject.id))
        _null_encrypted(session, Subject, Subject.id == subject.id)
        _null_encrypted(session, Case, Case.subject_id == subject.id)
        session.execute(sa.update(Subject).where(Subject.id == subject.id)
                        .values(match_key=None, erased_at=now))
        session.expire(subject)
        subject.forget_data_key()
        audit.record(session, "subject_erased", actor=actor, object_type="subject",
                     object_id=subject.id, ip=ip, now=now)
    return subject
