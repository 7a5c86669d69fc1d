"""Expiry of unanswered referrals (the scheduled job's service), with a fixed clock."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent, Case, Facility, FollowUp, Notification, Referral
from referral.services import referrals
from tests.factories import BorderPostFactory, CaseFactory, FacilityFactory, UserFactory

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def make(urgency, *, at=T0):
    post = BorderPostFactory()
    case = CaseFactory(facility=post, needs=["gbv"], urgency=urgency)
    promoter = UserFactory(role="promoter", facility=post)
    referral, _ = referrals.create(db.session, promoter, {
        "case_id": case.id, "to_facility_id": FacilityFactory().id, "services": ["gbv_care"],
        "urgency": urgency, "share": "minimum"}, now=at)
    return referral


def status_of(referral):
    return db.session.scalar(sa.select(Referral.status).where(Referral.id == referral.id))


def test_pending_referrals_expire_after_48_hours_and_emergencies_after_4(session):
    routine, emergency = make("routine"), make("emergency")
    assert referrals.expire_stale(session, now=T0 + timedelta(hours=3, minutes=59)) == 0
    assert referrals.expire_stale(session, now=T0 + timedelta(hours=4)) == 1
    assert (status_of(routine), status_of(emergency)) == ("pending", "expired")
    assert referrals.expire_stale(session, now=T0 + timedelta(hours=47)) == 0
    assert referrals.expire_stale(session, now=T0 + timedelta(hours=48)) == 1
    assert status_of(routine) == "expired"


def test_expiry_tells_the_sender_reopens_the_case_and_cancels_attendance(session):
    referral = make("urgent")
    at = T0 + timedelta(days=3)
    referrals.expire_stale(session, now=at)
    db.session.expire_all()
    stored = db.session.get(Referral, referral.id)
    assert (stored.status_reason, stored.closed_at) == ("not_answered_in_time", at)
    kinds = sorted(db.session.scalars(sa.select(Notification.kind)).all())
    assert kinds == ["referral_expired", "referral_received"]
    expired_note = db.session.scalar(sa.select(Notification).where(
        Notification.kind == "referral_expired"))
    assert expired_note.facility_id == stored.from_facility_id
    assert db.session.get(Case, stored.case_id).status == "open"
    assert db.session.scalars(sa.select(FollowUp.status)).all() == ["cancelled"]


def test_expiry_is_idempotent(session):
    make("routine")
    later = T0 + timedelta(days=5)
    assert referrals.expire_stale(session, now=later) == 1
    assert referrals.expire_stale(session, now=later) == 0
    assert referrals.expire_stale(session, now=later + timedelta(days=1)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "referral_expired")) == 1
    events = db.session.scalars(sa.select(AuditEvent.action)
                                .where(AuditEvent.action == "referrals_expired")).all()
    assert events == ["referrals_expired"]


def test_answered_referrals_never_expire(session):
    referral = make("routine")
    staff = UserFactory(role="facility_staff",
                        facility=db.session.get(Facility, referral.to_facility_id))
    referrals.accept(session, staff, referral.id, now=T0 + timedelta(hours=1))
    assert referrals.expire_stale(session, now=T0 + timedelta(days=10)) == 0
    assert status_of(referral) == "accepted"
