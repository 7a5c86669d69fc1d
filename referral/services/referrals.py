"""Referrals: send a case to another facility and follow it to its outcome (API.md).

Every move of the lifecycle is one UPDATE guarded by the current status, so when two
people (or a person and the expiry job) act at once exactly one wins and the other
gets 409, on SQLite and PostgreSQL alike, whatever the isolation level.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral.errors import Conflict, Invalid, NotFound
from referral.models import Case, Facility, Referral, User
from referral.models.codes import LIVE_REFERRAL_STATUSES, REFERRAL_MOVES, SERVICE_OF_NEED
from referral.services import (
    audit,
    followups,
    intake,
    notifications,
    pseudonyms,
    routing,
    sharing,
)

TIME_TO_ANSWER = {"emergency": timedelta(hours=4)}
DEFAULT_TIME_TO_ANSWER = timedelta(hours=48)
DIGEST_PURPOSE = "referral-digest/v1"
RECEIVER_ROLES = ("facility_staff",)
OPENS_CASE = (*LIVE_REFERRAL_STATUSES, "completed", "no_show")


def _new_code(session: Session) -> str:
    code = pseudonyms.generate_slip_code()
    while session.scalar(sa.select(Referral.id).where(Referral.code == code)):
        code = pseudonyms.generate_slip_code()
    return code


def _replay(session: Session, actor: User, data: dict) -> Referral | None:
    client_uuid = data.get("client_uuid")
    if not client_uuid:
        return None
    existing = session.scalar(sa.select(Referral).where(Referral.client_uuid == client_uuid))
    if existing is None:
        return None
    if (existing.request_digest != intake.request_digest(data)
            or existing.from_facility_id != actor.facility_id):
        raise Invalid("this client_uuid was already used for other content",
                      fields={"client_uuid": ["Already used for a different referral."]})
    return existing


def _check_can_refer(session: Session, case: Case, target: Facility | None,
                     services: list[str]) -> None:
    if case.status == "closed":
        raise Conflict("the case is closed: reopen it to refer the person")
    if case.subject.erased_at is not None:
        raise Conflict("the person's record was erased")
    if not case.consent.referral_sharing or case.consent.withdrawn_at is not None:
        raise Invalid("the person did not consent to share this case",
                      fields={"case_id": ["No consent to share this case with a facility."]})
    if target is None:
        raise Invalid("no such facility", fields={"to_facility_id": ["No such facility."]})
    if target.id == case.facility_id:
        raise Invalid("a facility cannot refer to itself",
                      fields={"to_facility_id": ["This is the case's own facility."]})
    problems = routing.refusals(case, target, services)
    if problems:
        raise Invalid("the facility cannot receive this referral", fields=problems)
    already = session.scalar(sa.select(Referral.id).where(
        Referral.case_id == case.id, Referral.to_facility_id == target.id,
        Referral.status.in_(LIVE_REFERRAL_STATUSES)))
    if already:
        raise Conflict("this case already has a live referral to this facility")


def create(session: Session, actor: User, data: dict, *, now: datetime,
           ip=None) -> tuple[Referral, bool]:
    """Refer a case of the caller's facility. Returns (referral, created)."""
    case = intake.own_case(session, actor, data["case_id"])
    if (existing := _replay(session, actor, data)) is not None:
        return existing, False
    target = session.get(Facility, data["to_facility_id"])
    services = sorted(set(data["services"]))
    _check_can_refer(session, case, target, services)
    urgency = data.get("urgency") or case.urgency
    referral = Referral(
        code=_new_code(session), case=case, from_facility_id=case.facility_id,
        to_facility_id=target.id, urgency=urgency, share=data.get("share") or "minimum",
        status="pending", created_by=actor.id, created_at=now,
        expires_at=now + TIME_TO_ANSWER.get(urgency, DEFAULT_TIME_TO_ANSWER),
        client_uuid=data.get("client_uuid"),
        request_digest=intake.request_digest(data) if data.get("client_uuid") else None,
    )
    referral.services = services
    referral.reason = data.get("reason")
    session.add(referral)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # The same tablet item arrived twice at once: the other request created it.
        if (existing := _replay(session, actor, data)) is not None:
            return existing, False
        raise
    case.status, case.updated_at = "referred", now
    followups.on_referral_created(session, referral, now=now)
    notifications.notify(session, facility_id=target.id, kind="referral_received", now=now,
                         case_id=case.id, referral_id=referral.id)
    audit.record(session, "referral_created", actor=actor, object_type="referral",
                 object_id=referral.id, ip=ip, now=now,
                 detail={"case_id": str(case.id), "to_facility_id": str(target.id),
                         "services": services, "urgency": urgency, "share": referral.share})
    session.flush()
    return referral, True


def _move(session: Session, referral: Referral, to: str, *, now: datetime, **values) -> None:
    """One state-guarded UPDATE; 409 when someone else moved the referral first."""
    allowed_from = [state for state, moves in REFERRAL_MOVES.items() if to in moves]
    if referral.status not in allowed_from:
        raise Conflict(f"a referral that is {referral.status} cannot become {to}")
    guard = [Referral.id == referral.id, Referral.status == referral.status]
    if referral.status == "pending" and to != "cancelled":
        guard.append(Referral.expires_at > now)  # too late: the expiry job will take it
    changed = session.execute(
        sa.update(Referral).where(*guard).values(status=to, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.refresh(referral)
        state = "expired" if referral.status == "pending" else referral.status
        raise Conflict(f"a referral that is {state} cannot become {to}")
    session.refresh(referral)


def _reopen_idle_cases(session: Session, case_ids, now: datetime) -> None:
    """A referred case with no referral still open or completed goes back to `open`."""
    busy = sa.exists().where(Referral.case_id == Case.id, Referral.status.in_(OPENS_CASE))
    session.execute(
        sa.update(Case).where(Case.id.in_(case_ids), Case.status == "referred", ~busy)
        .values(status="open", updated_at=now).execution_options(synchronize_session=False)
    )


def _receiving(session: Session, actor: User, referral_id) -> Referral:
    referral = session.get(Referral, referral_id)
    if (referral is None or actor.role not in RECEIVER_ROLES
            or referral.to_facility_id != actor.facility_id):
        raise NotFound()
    return referral


def _sending(session: Session, actor: User, referral_id) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None or referral.from_facility_id != actor.facility_id:
        raise NotFound()
    return referral


def _record(session, action, actor, referral, ip, now, **detail):
    audit.record(session, action, actor=actor, object_type="referral", object_id=referral.id,
                 ip=ip, now=now, detail={"case_id": str(referral.case_id), **detail})


def accept(session: Session, actor: User, referral_id, *, now: datetime, ip=None) -> Referral:
    referral = _receiving(session, actor, referral_id)
    _move(session, referral, "accepted", now=now, responded_at=now, responded_by=actor.id)
    followups.on_referral_accepted(session, referral, now=now)
    _record(session, "referral_accepted", actor, referral, ip, now)
    return referral


def decline(session: Session, actor: User, referral_id, *, reason_code: str, reason=None,
            now: datetime, ip=None) -> Referral:
    referral = _receiving(session, actor, referral_id)
    _move(session, referral, "declined", now=now, responded_at=now, responded_by=actor.id,
          closed_at=now, status_reason=reason_code)
    referral.status_note = reason
    _closed(session, referral, now)
    notifications.notify(session, facility_id=referral.from_facility_id,
                         kind="referral_declined", now=now, case_id=referral.case_id,
                         referral_id=referral.id)
    _record(session, "referral_declined", actor, referral, ip, now, reason_code=reason_code)
    return referral


def complete(session: Session, actor: User, referral_id, *, outcome: str, notes=None,
             now: datetime, ip=None) -> Referral:
    referral = _receiving(session, actor, referral_id)
    status = "no_show" if outcome == "no_show" else "completed"
    _move(session, referral, status, now=now, outcome=outcome, completed_at=now, closed_at=now)
    referral.completion_notes = notes
    _closed(session, referral, now)
    notifications.notify(session, facility_id=referral.from_facility_id,
                         kind="referral_completed", now=now, case_id=referral.case_id,
                         referral_id=referral.id)
    _record(session, "referral_completed", actor, referral, ip, now, outcome=outcome)
    return referral


def cancel(session: Session, actor: User, referral_id, *, reason=None, now: datetime,
           ip=None) -> Referral:
    referral = _sending(session, actor, referral_id)
    _move(session, referral, "cancelled", now=now, closed_at=now,
          status_reason="cancelled_by_sender")
    referral.status_note = reason
    _closed(session, referral, now)
    notifications.notify(session, facility_id=referral.to_facility_id,
                         kind="referral_cancelled", now=now, case_id=referral.case_id,
                         referral_id=referral.id)
    _record(session, "referral_cancelled", actor, referral, ip, now)
    return referral


def _closed(session: Session, referral: Referral, now: datetime) -> None:
    followups.on_referral_closed(session, referral, now=now)
    _reopen_idle_cases(session, [referral.case_id], now)
    session.flush()


def expire_stale(session: Session, *, now: datetime) -> int:
    """The scheduled job: pending referrals past expires_at become expired, once each.

    Only the process whose UPDATE changed a row notifies the sender for it."""
    rows = session.execute(
        sa.update(Referral)
        .where(Referral.status == "pending", Referral.expires_at <= now)
        .values(status="expired", closed_at=now, status_reason="not_answered_in_time")
        .returning(Referral.id).execution_options(synchronize_session=False)
    ).scalars().all()
    if not rows:
        return 0
    expired = session.scalars(sa.select(Referral).where(Referral.id.in_(rows))
                              .execution_options(populate_existing=True)).all()
    for referral in expired:
        followups.on_referral_closed(session, referral, now=now)
        notifications.notify(session, facility_id=referral.from_facility_id,
                             kind="referral_expired", now=now, case_id=referral.case_id,
                             referral_id=referral.id)
    _reopen_idle_cases(session, [r.case_id for r in expired], now)
    audit.record(session, "referrals_expired", object_type="referral", now=now,
                 detail={"count": len(expired), "referral_ids": [str(i) for i in rows]})
    session.flush()
    return len(expired)


def visible(session: Session, actor: User, referral_id) -> Referral:
    """A referral the caller's facility sent, or received (as staff); else 404."""
    referral = session.get(Referral, referral_id)
    if referral is None or actor.facility_id not in (referral.from_facility_id,
                                                     referral.to_facility_id):
        raise NotFound()
    if referral.to_facility_id == actor.facility_id and actor.role not in RECEIVER_ROLES:
        raise NotFound()
    return referral


def get(session: Session, actor: User, referral_id, *, now: datetime, ip=None):
    """A referral of the caller's facility (sent or received), as that facility sees it."""
    referral = visible(session, actor, referral_id)
    _record(session, "referral_read", actor, referral, ip, now)
    return sharing.referral_view(referral, actor.facility_id, now)


def get_by_code(session: Session, actor: User, code: str | None, *, now: datetime, ip=None):
    """The referral on a slip, for the facility it was sent to (or from)."""
    referral = session.scalar(sa.select(Referral).where(Referral.code == code)) if code else None
    if referral is None:
        raise NotFound()
    return get(session, actor, referral.id, now=now, ip=ip)


def list_referrals(session: Session, actor: User, *, direction=None, status=None, page: int,
                   per_page: int, now: datetime, ip=None, case_id=None) -> tuple[list, int]:
    """Incoming and/or outgoing referrals: pending first, emergency on top, then newest."""
    incoming = Referral.to_facility_id == actor.facility_id
    if actor.role not in RECEIVER_ROLES:
        incoming = sa.false()
    outgoing = Referral.from_facility_id == actor.facility_id
    where = {"incoming": incoming, "outgoing": outgoing}.get(direction, sa.or_(incoming,
                                                                               outgoing))
    query = sa.select(Referral).where(where)
    if status:
        query = query.where(Referral.status == status)
    if case_id:
        query = query.where(Referral.case_id == case_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    order = (
        sa.case((Referral.status == "pending", 0), (Referral.status == "accepted", 1), else_=2),
        sa.case((Referral.urgency == "emergency", 0), (Referral.urgency == "urgent", 1),
                else_=2),
        Referral.created_at.desc(), Referral.id,
    )
    items = list(session.scalars(query.order_by(*order).limit(per_page)
                                 .offset((page - 1) * per_page)))
    audit.record(session, "referrals_listed", actor=actor, object_type="referral", ip=ip,
                 now=now, detail={"referral_ids": [str(r.id) for r in items]})
    return [sharing.referral_view(r, actor.facility_id, now) for r in items], total


def services_for_needs(needs: Iterable[str]) -> list[str]:
    """The services that answer these needs, the most pressing need's first."""
    wanted = set(needs)
    found = [SERVICE_OF_NEED[need] for need in SERVICE_OF_NEED if need in wanted]
    return list(dict.fromkeys(found)) or ["primary_care"]
