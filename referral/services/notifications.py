"""Notifications: what a facility must act on (new referrals, declines, overdue follow-ups).

A notification holds ids and codes only. Each event notifies once, whoever raises it and
however often: the unique `dedupe_key` (kind and object id) plus INSERT .. ON CONFLICT DO
NOTHING, so a job run by two processes at once never fails or notifies twice.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from referral.errors import Forbidden, NotFound
from referral.models import Notification, Referral, User
from referral.services import audit, routing, scope

# A declined or expired referral leaves the sender to choose again: show the next options.
WITH_OPTIONS = ("referral_declined", "referral_expired")
NEXT_OPTIONS = 5


def notify(session: Session, *, facility_id, kind: str, now: datetime, case_id=None,
           referral_id=None, follow_up_id=None) -> None:
    """Notify a facility of one event, once: a repeat of the same event inserts nothing."""
    # The rows a notification refers to must be in the database before it.
    session.flush()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Notification.__table__)
        .values(id=uuid.uuid4(), facility_id=facility_id, kind=kind, case_id=case_id,
                referral_id=referral_id, follow_up_id=follow_up_id,
                dedupe_key=f"{kind}:{referral_id or follow_up_id}", created_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def _facility_of(actor: User):
    if actor.role not in scope.CASE_ROLES:
        raise Forbidden()
    return actor.facility_id


def with_options(session: Session, items: list[Notification], *, now: datetime):
    """Attach `options` to each notification: the next ranked facilities, or None."""
    for item in items:
        item.options = None
        if item.kind not in WITH_OPTIONS or item.referral_id is None:
            continue
        referral = session.get(Referral, item.referral_id)
        item.options = routing.rank(session, referral.case, referral.services, now=now,
                                    exclude=routing.tried_facilities(session, referral.case_id),
                                    limit=NEXT_OPTIONS)
    return items


def list_notifications(session: Session, actor: User, *, page: int, per_page: int,
                       unread: bool | None = None, now: datetime,
                       ip=None) -> tuple[list[Notification], int, int]:
    """A page of the caller's facility's notifications, unread first then newest.

    Returns (items, total, unread count of the facility)."""
    facility_id = _facility_of(actor)
    mine = sa.select(Notification).where(Notification.facility_id == facility_id)
    query = mine.where(Notification.read_at.is_(None)) if unread else mine
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    unread_count = session.scalar(sa.select(sa.func.count()).select_from(
        mine.where(Notification.read_at.is_(None)).subquery()))
    read_last = sa.case((Notification.read_at.is_(None), 0), else_=1)
    items = list(session.scalars(
        query.order_by(read_last, Notification.created_at.desc(), Notification.id)
        .limit(per_page).offset((page - 1) * per_page)))
    audit.record(session, "notifications_listed", actor=actor, object_type="notification",
                 ip=ip, now=now, detail={"unread_only": bool(unread),
                                         "notification_ids": [str(n.id) for n in items]})
    return with_options(session, items, now=now), total, unread_count


def mark_read(session: Session, actor: User, notification_id, *, now: datetime,
              ip=None) -> Notification:
    """Mark one of the facility's notifications read; reading it again keeps the first time."""
    facility_id = _facility_of(actor)
    mine = [Notification.id == notification_id, Notification.facility_id == facility_id]
    session.execute(
        sa.update(Notification).where(*mine, Notification.read_at.is_(None))
        .values(read_at=now, read_by=actor.id).execution_options(synchronize_session=False))
    notification = session.scalar(sa.select(Notification).where(*mine)
                                  .execution_options(populate_existing=True))
    if notification is None:
        raise NotFound()
    audit.record(session, "notification_read", actor=actor, object_type="notification",
                 object_id=notification.id, ip=ip, now=now,
                 detail={"kind": notification.kind})
    return with_options(session, [notification], now=now)[0]


def unread_count(session: Session, actor: User) -> int:
    """How many of the facility's notifications nobody has read (the bell's number)."""
    if actor.role not in scope.CASE_ROLES or actor.facility_id is None:
        return 0
    return session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.facility_id == actor.facility_id, Notification.read_at.is_(None)))
