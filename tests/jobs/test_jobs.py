"""The scheduled jobs called directly with a fixed clock, and the scheduler that holds them."""

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import current_app

from referral import jobs
from referral.extensions import db
from referral.models import AuditEvent, FollowUp, Notification, Referral, Subject
from referral.services import audit
from tests.factories import CaseFactory, FacilityFactory, SubjectFactory

NOW = datetime(2031, 6, 1, 3, 15, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=2000)  # past the default retention of 1825 days


def old_case(**kwargs):
    """A case, and its subject, that reached the server long before NOW."""
    subject = SubjectFactory(created_at=LONG_AGO, **kwargs)
    return CaseFactory(subject=subject, created_at=LONG_AGO)


def make_referral(case, *, status="pending", expires_at=None, created_at=None,
                  to_facility_id=None, **kwargs):
    """A referral of `case` (to a new clinic unless told), with encrypted free text."""
    created_at = created_at or case.created_at
    referral = Referral(code=uuid.uuid4().hex[:8].upper(), case=case,
                        from_facility_id=case.facility_id,
                        to_facility_id=to_facility_id or FacilityFactory().id,
                        urgency="routine", status=status,
                        expires_at=expires_at or created_at + timedelta(hours=48),
                        created_at=created_at, **kwargs)
    referral.reason = "Dolor abdominal persistente"
    db.session.add(referral)
    db.session.flush()
    return referral


def make_follow_up(case, *, status="scheduled", due_at=None, **kwargs):
    """A follow-up of `case` at its own facility, with encrypted notes."""
    follow_up = FollowUp(case=case, assigned_facility_id=case.facility_id, kind="contact",
                         status=status, due_at=due_at or case.created_at + timedelta(days=7),
                         created_at=case.created_at, **kwargs)
    follow_up.notes = "Llamar a la hermana en Tapachula"
    db.session.add(follow_up)
    db.session.flush()
    return follow_up


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_mark_overdue_follow_ups_marks_each_due_follow_up_once(app):
    case = CaseFactory(created_at=NOW - timedelta(days=8))
    due = make_follow_up(case, due_at=NOW - timedelta(minutes=1))
    later = make_follow_up(case, due_at=NOW + timedelta(minutes=1))
    db.session.commit()

    assert jobs.mark_overdue_follow_ups(NOW) == {"overdue": 1}
    assert jobs.mark_overdue_follow_ups(NOW) == {"overdue": 0}
    db.session.expire_all()
    assert (due.status, later.status) == ("overdue", "scheduled")
    assert count(Notification, Notification.follow_up_id == due.id) == 1


def test_expire_referrals_expires_each_stale_pending_referral_once(app):
    case = CaseFactory(created_at=NOW - timedelta(days=3))
    stale = make_referral(case, expires_at=NOW - timedelta(seconds=1))
    fresh = make_referral(case, expires_at=NOW + timedelta(hours=1))
    db.session.commit()

    assert jobs.expire_referrals(NOW) == {"expired": 1}
    assert jobs.expire_referrals(NOW) == {"expired": 0}
    db.session.expire_all()
    assert (stale.status, fresh.status) == ("expired", "pending")
    assert count(Notification, Notification.referral_id == stale.id,
                 Notification.kind == "referral_expired") == 1


def test_purge_job_commits_what_it_erased(app):
    subject_id = old_case().subject.id
    db.session.commit()

    counts = jobs.purge(NOW)

    assert counts["subjects"] == 1
    db.session.rollback()  # nothing left uncommitted to undo
    assert db.session.get(Subject, subject_id).erased_at == NOW


def test_verify_audit_reports_an_intact_chain(app):
    for _ in range(3):
        audit.record(db.session, "case_read", object_type="case", object_id=uuid.uuid4(),
                     now=NOW)
    db.session.commit()
    assert jobs.verify_audit(NOW) == {"ok": True, "events": 3}


def test_verify_audit_logs_the_first_bad_event_of_a_broken_chain(app, caplog):
    events = [audit.record(db.session, "case_read", object_type="case",
                           object_id=uuid.uuid4(), now=NOW) for _ in range(3)]
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[1].id)
                       .values(action="case_updated"))
    db.session.commit()

    with caplog.at_level(logging.ERROR, logger="referral.jobs"):
        result = jobs.verify_audit(NOW)

    assert result["ok"] is False and result["first_bad_event"] == events[1].id
    assert result["events"] == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(events[1].id) in errors[0].getMessage()


def test_each_run_logs_one_line_with_its_counts_and_duration(app, caplog):
    with caplog.at_level(logging.INFO, logger="referral.jobs"):
        jobs.run("expire_referrals", NOW)
    lines = [r.getMessage() for r in caplog.records if r.name == "referral.jobs"]
    assert len(lines) == 1
    assert lines[0].startswith("expire_referrals: expired=0 in ") and lines[0].endswith("s")


def test_a_failing_run_is_logged_without_its_message_and_the_scheduler_carries_on(
        app, monkeypatch, caplog):
    def broken(now):
        raise ValueError("María Pérez, nacida 1994-03-02")

    monkeypatch.setitem(jobs.JOBS, "purge", jobs.Job(broken, "daily"))
    with caplog.at_level(logging.INFO):
        jobs._scheduled(app, "purge")  # what the scheduler calls: must not raise
    text = caplog.text
    assert "job purge failed" in text and "ValueError" in text
    assert "María" not in text


def test_the_scheduler_holds_every_job_with_its_trigger(app):
    scheduler = jobs.build_scheduler(app)
    scheduler.start(paused=True)  # computes next run times; runs nothing
    try:
        held = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)

    assert set(held) == set(jobs.JOBS) == {
        "mark_overdue_follow_ups", "expire_referrals", "purge", "verify_audit",
        "stats_release"}
    for job in held.values():
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time > 0
    for name in ("mark_overdue_follow_ups", "expire_referrals"):
        assert isinstance(held[name].trigger, IntervalTrigger)
        assert held[name].trigger.interval == timedelta(minutes=5)
    assert held["verify_audit"].trigger.interval == timedelta(hours=1)
    purge = held["purge"]
    assert isinstance(purge.trigger, CronTrigger)
    next_run = purge.next_run_time.astimezone(UTC)
    assert (next_run.hour, next_run.minute) == (3, 15)
    # Just after midnight: a month has just finished, and its figures are wanted early.
    release = held["stats_release"].next_run_time.astimezone(UTC)
    assert (release.hour, release.minute) == (0, 30)


def test_a_scheduled_run_has_its_own_app_context_and_the_clock_as_now(app, monkeypatch):
    seen = {}

    def probe(now):
        seen.update(app=current_app._get_current_object(), now=now)
        return {}

    monkeypatch.setitem(jobs.JOBS, "verify_audit", jobs.Job(probe, "hourly"))
    scheduler = jobs.build_scheduler(app)
    job = scheduler.get_job("verify_audit")
    before = datetime.now(UTC)
    # A thread of its own, as the scheduler's executor runs it: no app context there.
    worker = threading.Thread(target=job.func, args=job.args)
    worker.start()
    worker.join()

    assert seen["app"] is app
    assert seen["now"].tzinfo is not None and before <= seen["now"] <= datetime.now(UTC)


def test_building_the_app_starts_no_scheduler(app):
    assert not [t for t in threading.enumerate() if "APScheduler" in t.name]
