"""Follow-ups: what a facility must check later, so that no one falls through the cracks.

Policy (DESIGN.md): creating a referral schedules a `referral_attendance` follow-up at the
sending facility; accepting one for a trafficking or GBV case schedules a `safety_check` at
the receiving facility; a referral's final state settles its open attendance follow-ups.
Every change of state is one UPDATE guarded by the current state, so two requests or two
job processes at once change each follow-up once.
"""

from datetime import UTC, datetime, time, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from referral.errors import Conflict, Forbidden, Invalid, NotFound
from referral.models import Case, FollowUp, Referral, User
from referral.models.codes import FOLLOW_UP_OPEN
from referral.services import audit, intake, notifications, routing, scope

ATTENDANCE_DUE = {"emergency": timedelta(hours=24), "urgent": timedelta(hours=72),
                  "routine": timedelta(days=7)}
SAFETY_CHECK_DUE = timedelta(days=7)
# A referral's final state -> (new status, outcome, timestamp column) of its open
# referral_attendance follow-ups. A safety_check is never touched: the person's safety
# matters whatever became of the referral.
SETTLES_ATTENDANCE = {
    "completed": ("done", "attended", "completed_at"),
    "no_show": ("missed", "missed", "completed_at"),
    "declined": ("cancelled", None, "cancelled_at"),
    "expired": ("cancelled", None, "cancelled_at"),
    "cancelled": ("cancelled", None, "cancelled_at"),
}
# How far from now a manual follow-up may be due: a late entry, not an old one; not forever.
EARLIEST_DUE = timedelta(days=1)
LATEST_DUE = timedelta(days=2 * 366)
ERASED = "The person's record was erased."


def _record(session: Session, action: str, follow_up_id, case_id, *, actor=None, now,
            ip=None, **detail) -> None:
    audit.record(session, action, actor=actor, object_type="follow_up", object_id=follow_up_id,
                 ip=ip, now=now, detail={"case_id": str(case_id), **detail})


def _sync(session: Session, follow_up_ids, values: dict) -> None:
    """Copies of these follow-ups already in the session take the values just written.

    (A bulk UPDATE's own synchronisation skips the columns a copy never loaded.)"""
    for follow_up_id in follow_up_ids:
        cached = session.identity_map.get(session.identity_key(FollowUp, follow_up_id))
        if cached is None:
            continue
        for name, value in values.items():
            set_committed_value(cached, name, value)


def _schedule(session: Session, *, case: Case, kind: str, due_at: datetime, facility_id,
              now: datetime, referral=None, actor=None, notes=None, ip=None) -> FollowUp:
    follow_up = FollowUp(case=case, referral_id=referral.id if referral else None,
                         assigned_facility_id=facility_id, kind=kind, status="scheduled",
                         due_at=due_at, created_by=actor.id if actor else None,
                         created_at=now)
    follow_up.notes = notes
    session.add(follow_up)
    session.flush()
    _record(session, "follow_up_scheduled", follow_up.id, case.id, actor=actor, now=now, ip=ip,
            kind=kind, referral_id=str(referral.id) if referral else None,
            assigned_facility_id=str(facility_id))
    return follow_up


def schedule(session: Session, *, case: Case, kind: str, due_at: datetime, facility_id,
             now: datetime, referral=None, actor=None, notes=None) -> FollowUp:
    """Schedule a follow-up of a case at a facility (audited; flushes)."""
    return _schedule(session, case=case, kind=kind, due_at=due_at, facility_id=facility_id,
                     now=now, referral=referral, actor=actor, notes=notes)


def on_referral_created(session: Session, referral: Referral, *, now: datetime) -> FollowUp:
    """Policy: did the person reach the facility? Asked by the sender, sooner when urgent."""
    return schedule(session, case=referral.case, kind="referral_attendance",
                    due_at=now + ATTENDANCE_DUE[referral.urgency],
                    facility_id=referral.from_facility_id, now=now, referral=referral)


def needs_safety_check(case: Case) -> bool:
    """A trafficking or GBV case (by need or by vulnerability)."""
    return routing.is_trafficking_survivor(case) or routing.is_gbv_survivor(case)


def on_referral_accepted(session: Session, referral: Referral, *,
                         now: datetime) -> FollowUp | None:
    """Policy: a safety check at the receiving facility a week on, for trafficking or GBV."""
    if not needs_safety_check(referral.case):
        return None
    return schedule(session, case=referral.case, kind="safety_check",
                    due_at=now + SAFETY_CHECK_DUE, facility_id=referral.to_facility_id,
                    now=now, referral=referral)


def on_referral_closed(session: Session, referral: Referral, *, now: datetime) -> None:
    """Policy: a referral's final state settles its open attendance follow-ups."""
    if referral.status not in SETTLES_ATTENDANCE:
        raise ValueError(f"a {referral.status} referral is not closed")
    status, outcome, stamp = SETTLES_ATTENDANCE[referral.status]
    values = {"status": status, stamp: now} | ({"outcome": outcome} if outcome else {})
    settled = session.execute(
        sa.update(FollowUp)
        .where(FollowUp.referral_id == referral.id, FollowUp.kind == "referral_attendance",
               FollowUp.status.in_(FOLLOW_UP_OPEN))
        .values(**values).returning(FollowUp.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    _sync(session, settled, values)
    action = "follow_up_cancelled" if status == "cancelled" else "follow_up_completed"
    for follow_up_id in settled:
        _record(session, action, follow_up_id, referral.case_id, now=now, status=status,
                outcome=outcome, referral_id=str(referral.id), by=f"referral_{referral.status}")


def mark_overdue(session: Session, *, now: datetime) -> int:
    """The scheduled job: follow-ups due by now become overdue, their facility is notified.

    Safe in two processes at once: the UPDATE is guarded by status, so only the process
    that changed a row notifies for it (and the notification's dedupe_key guards again)."""
    overdue = {"status": "overdue", "overdue_at": now}
    rows = session.execute(
        sa.update(FollowUp)
        .where(FollowUp.status == "scheduled", FollowUp.due_at <= now)
        .values(**overdue)
        .returning(FollowUp.id, FollowUp.assigned_facility_id, FollowUp.case_id)
        .execution_options(synchronize_session=False)
    ).all()
    _sync(session, [row.id for row in rows], overdue)
    for row in rows:
        notifications.notify(session, facility_id=row.assigned_facility_id,
                             kind="follow_up_overdue", now=now, case_id=row.case_id,
                             follow_up_id=row.id)
    if rows:  # a run that found nothing leaves no trace: it runs every few minutes
        audit.record(session, "follow_ups_marked_overdue", object_type="follow_up", now=now,
                     detail={"count": len(rows)})
    return len(rows)


def _facility_of(actor: User):
    if actor.role not in scope.CASE_ROLES:
        raise Forbidden()
    return actor.facility_id


def _assigned(session: Session, actor: User, follow_up_id) -> FollowUp:
    """A follow-up assigned to the caller's facility; anyone else's is 404."""
    facility_id = _facility_of(actor)
    follow_up = session.scalar(sa.select(FollowUp).where(
        FollowUp.id == follow_up_id, FollowUp.assigned_facility_id == facility_id))
    if follow_up is None:
        raise NotFound()
    return follow_up


def _refuse_notes_if_erased(case: Case, notes, field: str) -> None:
    if notes and case.subject.erased_at is not None:
        raise Invalid("the person's record was erased", fields={field: [ERASED]})


def create(session: Session, actor: User, case_id, data: dict, *, now: datetime,
           ip=None) -> FollowUp:
    """A manual follow-up of a case the caller may see (their own, or one referred to them
    and still shared), assigned to the caller's facility."""
    case = intake.visible_case(session, actor, case_id, now=now)
    due_at = data["due_at"]
    if due_at < now - EARLIEST_DUE:
        raise Invalid(fields={"due_at": ["Must not be more than a day in the past."]})
    if due_at > now + LATEST_DUE:
        raise Invalid(fields={"due_at": ["Must not be more than two years ahead."]})
    _refuse_notes_if_erased(case, data.get("notes"), "notes")
    return _schedule(session, case=case, kind=data["kind"], due_at=due_at,
                     facility_id=actor.facility_id, now=now, actor=actor,
                     notes=data.get("notes"), ip=ip)


def list_follow_ups(session: Session, actor: User, *, page: int, per_page: int, status=None,
                    due_before: datetime | None = None, now: datetime,
                    ip=None) -> tuple[list[FollowUp], int]:
    """The caller's facility's follow-ups (open ones by default), overdue and soonest first."""
    query = sa.select(FollowUp).where(
        FollowUp.assigned_facility_id == _facility_of(actor),
        FollowUp.status == status if status else FollowUp.status.in_(FOLLOW_UP_OPEN))
    if due_before is not None:
        query = query.where(FollowUp.due_at < due_before)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    overdue_first = sa.case((FollowUp.status == "overdue", 0), else_=1)
    items = list(session.scalars(query.order_by(overdue_first, FollowUp.due_at, FollowUp.id)
                                 .limit(per_page).offset((page - 1) * per_page)))
    audit.record(session, "follow_ups_listed", actor=actor, object_type="follow_up", ip=ip,
                 now=now, detail={"status": status,
                                  "follow_up_ids": [str(f.id) for f in items]})
    return items, total


def _settle(session: Session, follow_up: FollowUp, verb: str, note, **values) -> None:
    """One UPDATE guarded by the open states: of two requests at once, one wins, one 409s."""
    changed = session.execute(
        sa.update(FollowUp).where(FollowUp.id == follow_up.id,
                                  FollowUp.status.in_(FOLLOW_UP_OPEN))
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(follow_up)
    if changed != 1:
        raise Conflict(f"a follow-up that is {follow_up.status} cannot be {verb}")
    if note:
        # Added to what was written before, never in place of it.
        follow_up.notes = "\n\n".join(text for text in (follow_up.notes, note) if text)
    session.flush()


def complete(session: Session, actor: User, follow_up_id, *, outcome: str, notes=None,
             now: datetime, ip=None) -> FollowUp:
    """Record what the follow-up found: done, or missed when the outcome is `missed`."""
    follow_up = _assigned(session, actor, follow_up_id)
    _refuse_notes_if_erased(follow_up.case, notes, "notes")
    status = "missed" if outcome == "missed" else "done"
    _settle(session, follow_up, "completed", notes, status=status, outcome=outcome,
            completed_at=now, completed_by=actor.id)
    _record(session, "follow_up_completed", follow_up.id, follow_up.case_id, actor=actor,
            now=now, ip=ip, status=status, outcome=outcome)
    return follow_up


def cancel(session: Session, actor: User, follow_up_id, *, reason=None, now: datetime,
           ip=None) -> FollowUp:
    """Cancel an open follow-up; a reason is kept only in the encrypted notes."""
    follow_up = _assigned(session, actor, follow_up_id)
    _refuse_notes_if_erased(follow_up.case, reason, "reason")
    _settle(session, follow_up, "cancelled", reason, status="cancelled", cancelled_at=now)
    _record(session, "follow_up_cancelled", follow_up.id, follow_up.case_id, actor=actor,
            now=now, ip=ip, status="cancelled")
    return follow_up


def worklist(session: Session, actor: User, *, now: datetime, zone: tzinfo,
             ip=None) -> dict[str, list[FollowUp]]:
    """The facility's open follow-ups due by the end of this week (in the facility's time
    zone), as `overdue`, `today` and `week`; the rest come later."""
    local = now.astimezone(zone)
    end_of_today = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    end_of_week = end_of_today + timedelta(days=6 - local.weekday())
    items, _total = list_follow_ups(session, actor, page=1, per_page=500, now=now, ip=ip,
                                    due_before=end_of_week.astimezone(UTC))
    groups: dict[str, list[FollowUp]] = {"overdue": [], "today": [], "week": []}
    for item in items:
        if item.status == "overdue" or item.due_at < now:
            groups["overdue"].append(item)
        elif item.due_at < end_of_today:
            groups["today"].append(item)
        else:
            groups["week"].append(item)
    return groups
