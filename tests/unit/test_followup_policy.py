"""Follow-up policy: what a referral schedules and settles, and the overdue job."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.errors import Conflict
from referral.extensions import db
from referral.models import AuditEvent, Facility, FollowUp, Notification, User
from referral.services import followups, notifications
from tests.conftest import TEST_DATABASE_URL
from tests.factories import CaseFactory, FacilityFactory, ReferralFactory, UserFactory

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def follow_ups_of(referral):
    return {f.kind: f for f in db.session.scalars(
        sa.select(FollowUp).where(FollowUp.referral_id == referral.id)
        .execution_options(populate_existing=True))}


def staff_of(facility_id):
    return UserFactory(facility=db.session.get(Facility, facility_id), role="facility_staff")


def overdue_notifications():
    return db.session.scalars(sa.select(Notification)
                              .where(Notification.kind == "follow_up_overdue")).all()


# Scheduling policy


@pytest.mark.parametrize(("urgency", "due_in"), [("emergency", timedelta(hours=24)),
                                                 ("urgent", timedelta(hours=72)),
                                                 ("routine", timedelta(days=7))])
def test_a_new_referral_asks_the_sender_to_check_attendance_by_urgency(app, urgency, due_in):
    referral = ReferralFactory(urgency=urgency)
    follow_up = followups.on_referral_created(db.session, referral, now=NOW)
    assert follow_up.kind == "referral_attendance" and follow_up.status == "scheduled"
    assert follow_up.due_at == NOW + due_in
    assert follow_up.assigned_facility_id == referral.from_facility_id
    assert follow_up.referral_id == referral.id and follow_up.case_id == referral.case_id
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "follow_up_scheduled")).one()
    assert event.object_id == str(follow_up.id)
    assert event.detail["kind"] == "referral_attendance"


@pytest.mark.parametrize("case", [
    {"needs": ["trafficking"]}, {"needs": ["gbv"]},
    {"vulnerabilities": ["trafficking_indicators"]}, {"vulnerabilities": ["gbv_survivor"]},
], ids=["need trafficking", "need gbv", "trafficking indicators", "gbv survivor"])
def test_accepting_a_trafficking_or_gbv_referral_schedules_a_safety_check(app, case):
    referral = ReferralFactory(case=CaseFactory(**case), status="accepted")
    follow_up = followups.on_referral_accepted(db.session, referral, now=NOW)
    assert follow_up.kind == "safety_check" and follow_up.status == "scheduled"
    assert follow_up.assigned_facility_id == referral.to_facility_id
    assert follow_up.due_at == NOW + timedelta(days=7)
    assert follow_up.referral_id == referral.id


def test_accepting_any_other_referral_schedules_no_safety_check(app):
    referral = ReferralFactory(case=CaseFactory(needs=["injury", "mental_health"],
                                                vulnerabilities=["pregnant"]))
    assert followups.on_referral_accepted(db.session, referral, now=NOW) is None
    assert follow_ups_of(referral) == {}


# A referral's final state settles its attendance follow-up


def protected_referral(status="accepted"):
    """A GBV referral with its attendance follow-up and its safety check."""
    referral = ReferralFactory(case=CaseFactory(needs=["gbv"]), status=status)
    followups.on_referral_created(db.session, referral, now=NOW - timedelta(days=2))
    followups.on_referral_accepted(db.session, referral, now=NOW - timedelta(days=1))
    return referral


@pytest.mark.parametrize(("final", "status", "outcome"), [
    ("completed", "done", "attended"), ("no_show", "missed", "missed"),
])
def test_a_completed_or_missed_referral_settles_its_attendance_follow_up(
        app, final, status, outcome):
    referral = protected_referral()
    referral.status = final
    followups.on_referral_closed(db.session, referral, now=NOW)
    found = follow_ups_of(referral)
    attendance = found["referral_attendance"]
    assert (attendance.status, attendance.outcome) == (status, outcome)
    assert attendance.completed_at == NOW and attendance.cancelled_at is None
    assert found["safety_check"].status == "scheduled"
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "follow_up_completed")).one()
    assert event.object_id == str(attendance.id)
    assert event.detail["by"] == f"referral_{final}"


@pytest.mark.parametrize("final", ["declined", "expired", "cancelled"])
def test_a_referral_that_ended_unanswered_cancels_attendance_but_never_the_safety_check(
        app, final):
    referral = protected_referral()
    referral.status = final
    followups.on_referral_closed(db.session, referral, now=NOW)
    found = follow_ups_of(referral)
    attendance = found["referral_attendance"]
    assert attendance.status == "cancelled" and attendance.cancelled_at == NOW
    assert attendance.outcome is None and attendance.completed_at is None
    assert found["safety_check"].status == "scheduled"


def test_closing_leaves_settled_follow_ups_and_other_referrals_alone(app):
    referral, other = protected_referral(), protected_referral()
    attendance = follow_ups_of(referral)["referral_attendance"]
    user = staff_of(attendance.assigned_facility_id)
    followups.complete(db.session, user, attendance.id, outcome="reached", now=NOW)
    referral.status = "completed"
    followups.on_referral_closed(db.session, referral, now=NOW + timedelta(hours=1))
    settled = follow_ups_of(referral)["referral_attendance"]
    assert (settled.status, settled.outcome, settled.completed_at) == ("done", "reached", NOW)
    assert follow_ups_of(other)["referral_attendance"].status == "scheduled"


def test_an_overdue_attendance_follow_up_is_settled_too(app):
    referral = protected_referral()
    followups.mark_overdue(db.session, now=NOW + timedelta(days=5))
    assert follow_ups_of(referral)["referral_attendance"].status == "overdue"
    referral.status = "no_show"
    followups.on_referral_closed(db.session, referral, now=NOW + timedelta(days=5))
    assert follow_ups_of(referral)["referral_attendance"].status == "missed"


def test_closing_a_referral_that_is_still_live_is_a_programming_error(app):
    referral = protected_referral()
    with pytest.raises(ValueError):
        followups.on_referral_closed(db.session, referral, now=NOW)


# The overdue job


def scheduled(due_at, facility=None, kind="contact"):
    facility = facility or FacilityFactory()
    case = CaseFactory(facility=facility)
    return followups.schedule(db.session, case=case, kind=kind, due_at=due_at,
                              facility_id=facility.id, now=NOW - timedelta(days=3))


def test_mark_overdue_marks_only_what_is_due_and_notifies_the_assigned_facility(app):
    due = scheduled(NOW)
    later = scheduled(NOW + timedelta(seconds=1))
    assert followups.mark_overdue(db.session, now=NOW) == 1
    db.session.commit()
    assert (due.status, due.overdue_at) == ("overdue", NOW)
    assert later.status == "scheduled" and later.overdue_at is None
    (notice,) = overdue_notifications()
    assert notice.facility_id == due.assigned_facility_id
    assert (notice.follow_up_id, notice.case_id) == (due.id, due.case_id)
    assert notice.created_at == NOW and notice.read_at is None
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "follow_ups_marked_overdue")).one()
    assert event.detail == {"count": 1}


def test_mark_overdue_run_again_marks_nothing_and_notifies_no_one_twice(app):
    scheduled(NOW - timedelta(hours=1))
    scheduled(NOW - timedelta(days=1))
    assert followups.mark_overdue(db.session, now=NOW) == 2
    db.session.commit()
    assert followups.mark_overdue(db.session, now=NOW + timedelta(minutes=5)) == 0
    db.session.commit()
    assert len(overdue_notifications()) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "follow_ups_marked_overdue")) == 1


def test_settled_follow_ups_never_become_overdue(app):
    done = scheduled(NOW - timedelta(days=1))
    user = staff_of(done.assigned_facility_id)
    followups.cancel(db.session, user, done.id, now=NOW - timedelta(hours=2))
    assert followups.mark_overdue(db.session, now=NOW) == 0
    assert done.status == "cancelled" and overdue_notifications() == []


def test_notify_twice_for_one_event_keeps_one_and_the_transaction_usable(app):
    follow_up = scheduled(NOW)
    for _ in range(2):
        notifications.notify(db.session, facility_id=follow_up.assigned_facility_id,
                             kind="follow_up_overdue", now=NOW, case_id=follow_up.case_id,
                             follow_up_id=follow_up.id)
    scheduled(NOW)  # the duplicate did not abort the transaction (PostgreSQL would)
    db.session.commit()
    (notice,) = overdue_notifications()
    assert notice.dedupe_key == f"follow_up_overdue:{follow_up.id}"


# Two processes at once


@pytest.fixture
def shared_pg_url(request):
    """PostgreSQL only when the suite runs on it: a SQLite run stays on SQLite."""
    if not TEST_DATABASE_URL.startswith("postgres"):
        pytest.skip("the suite runs on SQLite")
    return request.getfixturevalue("pg_url")


def in_parallel(app, work, threads):
    """Run work(n) in `threads` threads started together, each in its own app context."""
    start, results, errors = threading.Barrier(threads), {}, []

    def run(n):
        try:
            start.wait()
            with app.app_context():
                results[n] = work(n)
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, errors


def test_two_overdue_jobs_at_once_notify_each_follow_up_exactly_once(shared_app):
    rounds, per_round, threads = 3, 20, 4
    for n in range(rounds):
        with shared_app.app_context():
            ids = [scheduled(NOW - timedelta(minutes=i)).id for i in range(per_round)]
            db.session.commit()

        def job(_, at=NOW + timedelta(seconds=n)):
            marked = followups.mark_overdue(db.session, now=at)
            db.session.commit()
            return marked

        results, errors = in_parallel(shared_app, job, threads)
        assert errors == []
        assert sum(results.values()) == per_round
        with shared_app.app_context():
            counts = dict(db.session.execute(
                sa.select(Notification.follow_up_id, sa.func.count())
                .where(Notification.follow_up_id.in_(ids))
                .group_by(Notification.follow_up_id)).all())
            assert counts == dict.fromkeys(ids, 1)
            statuses = db.session.scalars(sa.select(FollowUp.status)
                                          .where(FollowUp.id.in_(ids))).all()
            assert set(statuses) == {"overdue"}


def test_two_completes_at_once_one_wins_the_other_is_refused(shared_app):
    with shared_app.app_context():
        follow_up = scheduled(NOW + timedelta(days=1))
        user = staff_of(follow_up.assigned_facility_id)
        follow_up_id, user_id = follow_up.id, user.id
        db.session.commit()

    def complete(n):
        actor = db.session.get(User, user_id)
        try:
            followups.complete(db.session, actor, follow_up_id, now=NOW,
                               outcome="reached" if n else "not_reached")
        except Conflict:
            db.session.rollback()
            return "conflict"
        db.session.commit()
        return "done"

    results, errors = in_parallel(shared_app, complete, 2)
    assert errors == []
    assert sorted(results.values()) == ["conflict", "done"]
    with shared_app.app_context():
        settled = db.session.get(FollowUp, follow_up_id)
        assert settled.status == "done"
        assert settled.outcome == ("reached" if results[1] == "done" else "not_reached")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "follow_up_completed")) == 1
