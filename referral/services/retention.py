"""Retention: delete or crypto-shred what the policy says has expired (the daily purge job).

- failed logins once they leave the throttling window;
- API tokens a day after they expired or were revoked;
- notifications read more than NOTIFICATION_DAYS ago;
- people: a subject whose every case reached the server more than RETENTION_DAYS ago and
  has nothing still going on (no referral pending or accepted, no follow-up scheduled or
  overdue) is crypto-shredded exactly as an erasure request does it (erasure.shred), so
  the coarse plain columns stay and the statistics still count them.

Every step is a set-based statement guarded by state, so a second run changes nothing, and
two processes at once change each row once: on PostgreSQL each batch of subjects is
claimed with FOR UPDATE SKIP LOCKED; SQLite runs one writing transaction at a time.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.models import (
    ApiToken,
    Case,
    FollowUp,
    LoginFailure,
    Notification,
    Referral,
    Subject,
)
from referral.models.codes import FOLLOW_UP_OPEN, LIVE_REFERRAL_STATUSES
from referral.services import audit, erasure

BATCH_SIZE = 500
# A client still holding a just-expired token gets 401 either way; a day's grace keeps
# the row for anyone investigating a login problem that day.
TOKEN_GRACE = timedelta(days=1)
KINDS = ("subjects", "api_tokens", "login_failures", "notifications")


def idle_subjects(cutoff: datetime) -> sa.Select:
    """Subjects not erased whose every case is older than `cutoff` and has nothing open."""
    of_subject = Case.subject_id == Subject.id
    return sa.select(Subject.id).where(
        Subject.erased_at.is_(None),
        Subject.created_at < cutoff,
        ~sa.exists().where(of_subject, Case.created_at >= cutoff),
        ~sa.exists().where(of_subject, Referral.case_id == Case.id,
                           Referral.status.in_(LIVE_REFERRAL_STATUSES)),
        ~sa.exists().where(of_subject, FollowUp.case_id == Case.id,
                           FollowUp.status.in_(FOLLOW_UP_OPEN)),
    )


def _delete(session: Session, model, *where) -> int:
    result = session.execute(sa.delete(model).where(*where)
                             .execution_options(synchronize_session=False))
    return result.rowcount


def _shred_idle(session: Session, cutoff: datetime, now: datetime, batch_size: int,
                between_batches: Callable[[], None] | None) -> int:
    # SKIP LOCKED: a second process takes other subjects instead of waiting for these,
    # and a locked subject cannot gain a case meanwhile (the foreign key's share lock).
    candidates = (idle_subjects(cutoff).limit(batch_size)
                  .with_for_update(of=Subject, skip_locked=True))
    shredded = 0
    while True:
        ids = list(session.scalars(candidates))
        if not ids:
            return shredded
        erasure.shred(session, ids, now=now)
        shredded += len(ids)
        _forget(session, set(ids))
        if between_batches is not None:
            between_batches()
        if len(ids) < batch_size:
            return shredded


def _forget(session: Session, ids: set) -> None:
    """Drop what this session still holds of the shredded subjects (keys, loaded fields)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Subject) and obj.id in ids:
            obj.forget_data_key()
    session.expire_all()


def purge(session: Session, *, now: datetime, retention_days: int,
          notification_days: int = 90, login_window_seconds: int = 15 * 60,
          batch_size: int = BATCH_SIZE,
          between_batches: Callable[[], None] | None = None) -> dict:
    """Apply the retention policy as of `now`; returns how many of each kind went.

    Subjects go in batches of `batch_size`; `between_batches` (a job passes its session's
    commit) makes each batch durable and releases locks. Flushes; the caller commits."""
    session.flush()  # pending changes land first, so the bulk statements see them
    counts = {"subjects": _shred_idle(session, now - timedelta(days=retention_days), now,
                                      batch_size, between_batches)}
    # In the last transaction, with the audit event: these are one statement each.
    counts["api_tokens"] = _delete(
        session, ApiToken, sa.or_(ApiToken.expires_at < now - TOKEN_GRACE,
                                  ApiToken.revoked_at < now - TOKEN_GRACE))
    counts["login_failures"] = _delete(
        session, LoginFailure, LoginFailure.at < now - timedelta(seconds=login_window_seconds))
    counts["notifications"] = _delete(
        session, Notification, Notification.read_at < now - timedelta(days=notification_days))
    audit.record(session, "retention_purge", now=now, detail=dict(counts))
    return counts
