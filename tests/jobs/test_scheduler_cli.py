"""`flask jobs run|list` and `flask scheduler run`, and two job processes at once."""

import logging
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from referral import create_app, jobs
from referral.extensions import db
from referral.models import (
    AuditEvent,
    DataKey,
    FollowUp,
    LoginFailure,
    Notification,
    Referral,
    StatsClaim,
    StatsRelease,
    Subject,
)
from referral.services import audit, erasure, periods, stats
from referral.services.periods import CalendarPeriod
from tests.conftest import libpq_url, scratch_database, test_config
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    SubjectFactory,
    UserFactory,
)
from tests.jobs.test_jobs import LONG_AGO, NOW, count, make_follow_up, make_referral, old_case

ROOT = Path(__file__).resolve().parents[2]
NOW_ISO = "2031-06-01T03:15:00Z"
ALL_JOBS = ("mark_overdue_follow_ups", "expire_referrals", "verify_audit", "purge",
            "stats_release")


def flask(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("name", ALL_JOBS)
def test_jobs_run_prints_the_summary_of_any_job(app, name):
    result = flask(app, "jobs", "run", name, "--now", NOW_ISO)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"{name}:( \w+=\S+)+\n", result.output)


def test_jobs_run_acts_as_of_the_moment_given(app):
    subject = old_case(given_name="Marta").subject
    db.session.commit()

    # Five years before NOW the case is recent: nothing to purge yet.
    early = flask(app, "jobs", "run", "purge", "--now", "2026-06-01T00:00:00-06:00")
    assert early.exit_code == 0 and "subjects=0" in early.output
    result = flask(app, "jobs", "run", "purge", "--now", NOW_ISO)

    assert result.exit_code == 0, result.output
    assert result.output == ("purge: subjects=1 api_tokens=0 login_failures=0 "
                             "notifications=0\n")
    db.session.expire_all()
    assert subject.given_name is None and subject.erased_at == NOW


def test_jobs_run_refuses_an_unknown_job_naming_the_real_ones(app):
    result = flask(app, "jobs", "run", "purge_everything")
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: unknown job 'purge_everything'; jobs: mark_overdue_follow_ups, "
        "expire_referrals, verify_audit, purge, stats_release"]


@pytest.mark.parametrize("now", ["2031-06-01T03:15:00", "yesterday", "2031-13-01T00:00Z"])
def test_jobs_run_refuses_a_moment_without_a_zone_or_unreadable(app, now):
    result = flask(app, "jobs", "run", "purge", "--now", now)
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1 and "--now" in result.output
    assert count(AuditEvent) == 0  # the job never ran


def test_jobs_run_exits_non_zero_on_a_broken_audit_chain(app):
    events = [audit.record(db.session, "case_read", now=NOW) for _ in range(2)]
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[0].id))
    db.session.commit()
    result = flask(app, "jobs", "run", "verify_audit", "--now", NOW_ISO)
    assert result.exit_code != 0
    assert f"ok=false events=0 first_bad_event={events[1].id}" in result.output


def test_jobs_run_reports_a_failure_in_one_line_without_its_details(app, monkeypatch):
    def broken(now):
        raise RuntimeError("could not store María Pérez")

    monkeypatch.setitem(jobs.JOBS, "purge", jobs.Job(broken, "daily"))
    result = flask(app, "jobs", "run", "purge", "--now", NOW_ISO)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: purge failed (RuntimeError); it is safe to run again"]


def test_jobs_list_names_each_job_and_its_schedule(app):
    result = flask(app, "jobs", "list")
    assert result.exit_code == 0
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert lines == {"mark_overdue_follow_ups": "every 5 minutes",
                     "expire_referrals": "every 5 minutes",
                     "verify_audit": "hourly", "purge": "daily at 03:15 UTC",
                     "stats_release": "daily at 00:30 UTC"}


def test_scheduler_run_refuses_to_start_without_a_key_ring(app, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-keyring.json"
    monkeypatch.setitem(app.config, "KEYRING", str(missing))
    monkeypatch.delitem(app.extensions, "referral.keyring", raising=False)
    result = flask(app, "scheduler", "run")
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: refusing to start the scheduler: no key ring at {missing}: "
        "create one with `flask --app referral keys init` or set REFERRAL_KEYRING"]


# --- separate processes ---------------------------------------------------------------

@pytest.fixture
def shared_url(database_url, tmp_path):
    """A database several processes reach: a SQLite file, or a scratch PostgreSQL one."""
    if not database_url.startswith("postgres"):
        yield f"sqlite:///{tmp_path}/shared.sqlite3"
        return
    with scratch_database(database_url, "jobs") as url:
        yield url


@pytest.fixture
def shared_app(shared_url, keyring_path, tmp_path):
    app = create_app(test_config(shared_url, keyring_path, INSTANCE_PATH=str(tmp_path)))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def _environment(url, keyring_path, tmp_path) -> dict:
    return {**os.environ, "REFERRAL_DATABASE_URL": url, "REFERRAL_KEYRING": str(keyring_path),
            "REFERRAL_SECRET_KEY": "test-secret-key-not-for-production",
            "REFERRAL_INSTANCE_PATH": str(tmp_path)}


def _flask_process(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "referral", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _alive(processes) -> bool:
    for process in processes:
        assert process.poll() is None, process.communicate()[1]
    return True


def _has_open(process: subprocess.Popen, path: Path) -> bool:
    try:
        return any(os.path.realpath(fd) == str(path)
                   for fd in Path(f"/proc/{process.pid}/fd").iterdir())
    except OSError:  # no /proc here, or a descriptor closed meanwhile: look again
        return False


@contextmanager
def start_gate(url: str):
    """Hold the database until both job processes wait on it, then let them go together.

    Without it one process may well finish before the other has even started. Yields a
    function that takes the two processes and returns once both are waiting."""
    if url.startswith("postgres"):
        conn = psycopg.connect(libpq_url(url))
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")

        def waiting(processes):
            # pg_locks is live (pg_stat_activity would be a snapshot in this transaction).
            _wait_until(lambda: _alive(processes) and conn.execute(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()[0] == len(processes), "both processes wait for the lock")
    else:
        path = Path(url.removeprefix("sqlite:///")).resolve()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # what every transaction of theirs starts with

        def waiting(processes):
            for process in processes:
                _wait_until(lambda p=process: _alive(processes) and _has_open(p, path),
                            "both processes connect")
            time.sleep(0.3)  # into their busy wait for the write lock
    try:
        yield waiting
    finally:
        conn.rollback()
        conn.close()


def run_twice_at_once(name, url, keyring_path, tmp_path) -> list[dict]:
    """Two `flask jobs run NAME` processes running together; the counts each printed."""
    env = _environment(url, keyring_path, tmp_path)
    with start_gate(url) as waiting:
        processes = [_flask_process(env, "jobs", "run", name, "--now", NOW_ISO)
                     for _ in range(2)]
        waiting(processes)
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (out, err)
        prefix, _, pairs = out.strip().partition(": ")
        assert prefix == name
        results.append({k: int(v) for k, v in (pair.split("=") for pair in pairs.split())})
    return results


def _chain_intact():
    verdict = audit.verify(db.session)
    assert verdict.ok, verdict


@pytest.mark.slow  # two processes start: a few seconds
def test_two_purges_at_once_erase_each_person_once(shared_app, shared_url, keyring_path,
                                                   tmp_path):
    people = 700  # more than one batch
    with shared_app.app_context():
        post = BorderPostFactory()
        for n in range(people):  # built, then flushed 200 at a time: quicker
            subject = SubjectFactory.build(given_name=f"Persona {n}", family_name="Prueba",
                                           created_at=LONG_AGO)
            db.session.add(CaseFactory.build(subject=subject, facility=post,
                                             created_at=LONG_AGO))
            if n % 200 == 199:
                db.session.flush()
        kept = CaseFactory(created_at=NOW - timedelta(days=1)).subject.id
        for n in range(7):
            db.session.add(LoginFailure(kind="username", key=f"k{n}", at=NOW - timedelta(days=1)))
        db.session.commit()

    results = run_twice_at_once("purge", shared_url, keyring_path, tmp_path)

    assert sum(r["subjects"] for r in results) == people
    assert sum(r["login_failures"] for r in results) == 7
    with shared_app.app_context():
        assert count(Subject, Subject.erased_at == NOW) == people
        assert count(Subject, Subject.erased_at.is_(None)) == 1
        assert db.session.scalars(sa.select(DataKey.subject_id)).all() == [kept]
        events = db.session.scalars(sa.select(AuditEvent.detail)
                                    .where(AuditEvent.action == "retention_purge")).all()
        assert sorted(e["subjects"] for e in events) == sorted(r["subjects"] for r in results)
        _chain_intact()


@pytest.mark.slow  # two processes start: a few seconds
def test_two_overdue_runs_at_once_mark_and_notify_each_follow_up_once(
        shared_app, shared_url, keyring_path, tmp_path):
    due = 300
    with shared_app.app_context():
        cases = [CaseFactory(created_at=NOW - timedelta(days=10)) for _ in range(10)]
        for n in range(due):
            make_follow_up(cases[n % 10], due_at=NOW - timedelta(minutes=n))
        make_follow_up(cases[0], due_at=NOW + timedelta(hours=1))
        db.session.commit()

    results = run_twice_at_once("mark_overdue_follow_ups", shared_url, keyring_path,
                                tmp_path)

    assert sum(r["overdue"] for r in results) == due
    with shared_app.app_context():
        assert count(FollowUp, FollowUp.status == "overdue", FollowUp.overdue_at == NOW) == due
        assert count(FollowUp, FollowUp.status == "scheduled") == 1
        notified = db.session.execute(
            sa.select(Notification.follow_up_id, sa.func.count())
            .where(Notification.kind == "follow_up_overdue")
            .group_by(Notification.follow_up_id)).all()
        assert len(notified) == due and {n for _, n in notified} == {1}
        _chain_intact()


@pytest.mark.slow  # two processes start: a few seconds
def test_two_expiry_runs_at_once_expire_and_notify_each_referral_once(
        shared_app, shared_url, keyring_path, tmp_path):
    stale = 300
    with shared_app.app_context():
        clinic = FacilityFactory()
        cases = [CaseFactory(created_at=NOW - timedelta(days=3)) for _ in range(10)]
        for n in range(stale):
            make_referral(cases[n % 10], to_facility_id=clinic.id,
                          expires_at=NOW - timedelta(minutes=n))
        make_referral(cases[0], to_facility_id=clinic.id, expires_at=NOW + timedelta(hours=1))
        db.session.commit()

    results = run_twice_at_once("expire_referrals", shared_url, keyring_path, tmp_path)

    assert sum(r["expired"] for r in results) == stale
    with shared_app.app_context():
        assert count(Referral, Referral.status == "expired", Referral.closed_at == NOW) == stale
        assert count(Referral, Referral.status == "pending") == 1
        notified = db.session.execute(
            sa.select(Notification.referral_id, sa.func.count())
            .where(Notification.kind == "referral_expired")
            .group_by(Notification.referral_id)).all()
        assert len(notified) == stale and {n for _, n in notified} == {1}
        _chain_intact()


def _read_line(stream, timeout=60) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output in time"
    return stream.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_scheduler_run_stops_cleanly_on_a_signal(shared_app, shared_url, keyring_path,
                                                 tmp_path, sig):
    process = _flask_process(_environment(shared_url, keyring_path, tmp_path),
                             "scheduler", "run")
    try:
        first = _read_line(process.stdout)
        # (not stderr in the message: reading it would wait for the process to end)
        assert first.startswith(f"scheduler running {len(jobs.JOBS)} jobs"), first
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, (out, err)
    assert out.splitlines()[-1] == "scheduler stopped"


@pytest.mark.parametrize("how", ["retention", "erasure_request"])
def test_the_purge_leaves_no_erased_key_in_the_database_files(shared_app, shared_url, how):
    with shared_app.app_context():
        subject = CaseFactory(subject=SubjectFactory(created_at=LONG_AGO),
                              created_at=LONG_AGO).subject
        db.session.commit()
        wrapped = db.session.get(DataKey, subject.id).wrapped
        if how == "erasure_request":  # an admin erased a person active yesterday
            CaseFactory(subject=subject, created_at=NOW - timedelta(days=2))
            erasure.erase_subject(db.session, UserFactory(admin=True), subject.pseudonym,
                                  now=NOW - timedelta(days=1))
            db.session.commit()
        result = flask(shared_app, "jobs", "run", "purge", "--now", NOW_ISO)
        assert result.exit_code == 0, result.output
        assert f"subjects={int(how == 'retention')} " in result.output
        assert db.session.get(DataKey, subject.id) is None
        db.engine.dispose()
    if shared_url.startswith("postgres"):
        # Dead row versions stay in the table files until VACUUM; the job runs it.
        with psycopg.connect(libpq_url(shared_url)) as conn:
            vacuumed = dict(conn.execute(
                "SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname IN ('subjects', 'data_keys', 'cases')").fetchall())
        assert vacuumed == {"subjects": True, "data_keys": True, "cases": True}
    else:
        path = Path(shared_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        key_still_stored = wrapped in stored  # in the file or its write-ahead log
        assert not key_still_stored


def test_an_intake_is_saved_while_the_daily_job_computes_a_release(shared_app, monkeypatch):
    # SQLite has one writer at a time: a release computed while holding it kept every
    # intake, sync and sign-in waiting (then failing, after the busy timeout) for minutes.
    with shared_app.app_context():
        post = BorderPostFactory()
        for n in range(30):
            CaseFactory(facility=post, created_at=datetime(2031, 4, 1 + n % 28, tzinfo=UTC))
        db.session.commit()
    computing, go_on, outcome = threading.Event(), threading.Event(), {}
    protect = stats._protect

    def held(*args, **kwargs):  # a long audit, ended by the test
        computing.set()
        assert go_on.wait(60)
        return protect(*args, **kwargs)

    monkeypatch.setattr(stats, "_protect", held)

    def daily_job():
        with shared_app.app_context():
            try:
                outcome["summary"] = jobs.run("stats_release", datetime(2031, 5, 2, tzinfo=UTC))
            except Exception as exc:  # reported below
                outcome["error"] = exc

    releaser = threading.Thread(target=daily_job)
    releaser.start()
    try:
        assert computing.wait(60)
        with shared_app.app_context():
            CaseFactory(facility=post, created_at=datetime(2031, 5, 1, 9, tzinfo=UTC))
            db.session.commit()  # "database is locked" after the busy timeout, before
            assert not go_on.is_set()  # saved while the release was being computed
    finally:
        go_on.set()
        releaser.join(120)
    assert "error" not in outcome, outcome
    with shared_app.app_context():
        april = stats.find(db.session, periods.from_key("month", "2031-04"))
        assert april is not None and april.cells > 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StatsRelease).where(
            StatsRelease.period == "month")) == 1
        _chain_intact()


def _april_of_cases(app) -> CalendarPeriod:
    with app.app_context():
        post = BorderPostFactory()
        for n in range(30):
            CaseFactory(facility=post, created_at=datetime(2031, 4, 1 + n % 28, tzinfo=UTC))
        db.session.commit()
    return periods.from_key("month", "2031-04")


def _release_committed(app, period):
    with app.app_context():
        return stats.release_committed(db.session, period, now=datetime(2031, 5, 2, tzinfo=UTC),
                                       k=5, commit=db.session.commit)


def _claims(app) -> list:
    with app.app_context():
        return db.session.execute(sa.select(StatsClaim.period, StatsClaim.period_key)).all()


def _sqlite_only(url: str) -> None:
    if url.startswith("postgres"):
        pytest.skip("PostgreSQL computes a release holding the period's advisory lock, which "
                    "another releaser waits on; claims are for SQLite files")


def test_two_managers_asking_for_an_unreleased_month_at_once_compute_it_once(
        shared_app, shared_url, monkeypatch, caplog):
    # A SQLite file computes a release in a read snapshot, holding nothing, so that intakes
    # go on. Without a claim, a second request for the same month (a second manager, a
    # second worker thread) computed all of it again, minutes of CPU on a busy post, and
    # its result was dropped when stored.
    _sqlite_only(shared_url)
    april = _april_of_cases(shared_app)
    computed, first, go_on = Counter(), threading.Event(), threading.Event()
    protect = stats._protect

    def counted(session, period, children, k):
        computed[(period.kind, period.key)] += 1
        first.set()
        assert go_on.wait(60)  # a long audit, ended by the test
        return protect(session, period, children, k)

    monkeypatch.setattr(stats, "_protect", counted)
    answers, errors = [], []

    def ask():
        try:
            answers.append(_release_committed(shared_app, april)[0].id)
        except Exception as exc:  # reported below
            errors.append(exc)

    caplog.set_level(logging.INFO, logger="referral.services.stats")
    managers = [threading.Thread(target=ask) for _ in range(2)]
    managers[0].start()
    try:
        assert first.wait(60)
        managers[1].start()
        _wait_until(lambda: any("waiting for another releaser" in record.getMessage()
                                for record in caplog.records), "the second one waits")
    finally:
        go_on.set()
        for manager in managers:
            manager.join(120)
    assert not errors, errors
    assert len(answers) == 2 and answers[0] == answers[1]  # the same release for both
    parts = [(part.kind, part.key) for part in april.children()]
    assert computed == Counter(dict.fromkeys([*parts, ("month", "2031-04")], 1))
    assert _claims(shared_app) == []


def test_a_claim_left_by_a_releaser_that_died_is_taken_over(
        shared_app, shared_url, monkeypatch, caplog):
    _sqlite_only(shared_url)
    april = _april_of_cases(shared_app)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # its pid, once it has ended
    dead.wait()
    first_part = april.children()[0]
    with shared_app.app_context():
        db.session.add(StatsClaim(period=first_part.kind, period_key=first_part.key,
                                  holder=f"{socket.gethostname()}:{dead.pid}:1",
                                  claimed_at=datetime(2031, 5, 1, tzinfo=UTC)))
        db.session.commit()
    monkeypatch.setattr(stats, "LOCKED_WAIT_S", 30.0)  # else it waits out a live holder
    caplog.set_level(logging.INFO, logger="referral.services.stats")
    month, made = _release_committed(shared_app, april)
    assert made and month.cells > 0
    assert [record.getMessage() for record in caplog.records
            if "taking over" in record.getMessage()] == [
        f"release part {first_part.key}: taking over from a releaser that ended without "
        "storing it"]
    assert _claims(shared_app) == []


def test_a_release_that_fails_drops_its_claim(shared_app, shared_url, monkeypatch):
    _sqlite_only(shared_url)
    april = _april_of_cases(shared_app)

    def failing(session, period, children, k):
        raise RuntimeError("the audit failed")

    monkeypatch.setattr(stats, "_protect", failing)
    with pytest.raises(RuntimeError, match="the audit failed"):
        _release_committed(shared_app, april)
    assert _claims(shared_app) == []  # else the next releaser would wait for it
    monkeypatch.undo()
    monkeypatch.setattr(stats, "LOCKED_WAIT_S", 5.0)
    month, made = _release_committed(shared_app, april)
    assert made and month.cells > 0


@pytest.mark.slow  # two processes start: a few seconds
def test_two_stats_releases_at_once_release_each_period_once(
        shared_app, shared_url, keyring_path, tmp_path):
    with shared_app.app_context():
        posts = [BorderPostFactory(), BorderPostFactory()]
        for n in range(60):
            CaseFactory(facility=posts[n % 2], nationality=("HN", "GT", "NI")[n % 3],
                        created_at=datetime(2026, 7 + n % 2, 1 + n % 28, tzinfo=UTC))
        db.session.commit()
        first = stats.first_record_at(db.session)
    months = periods.finished_between("month", first, datetime.now(UTC))
    expected = [month.key for month in months]
    parts = sorted(part.key for month in months for part in month.children())

    env = _environment(shared_url, keyring_path, tmp_path)
    with start_gate(shared_url) as waiting:
        processes = [_flask_process(env, "stats", "release", "--period", "month")
                     for _ in range(2)]
        waiting(processes)
    released = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (out, err)
        released += re.findall(r"^released month (\S+):", out, re.MULTILINE)
    assert sorted(released) == expected  # each month by one process or the other, once
    with shared_app.app_context():
        stored = db.session.execute(sa.select(StatsRelease.period, StatsRelease.period_key)
                                    .order_by(StatsRelease.period_key)).all()
        assert [key for kind, key in stored if kind == "month"] == expected
        assert [key for kind, key in stored if kind == "part"] == parts  # once each
        events = db.session.scalars(sa.select(AuditEvent.detail)
                                    .where(AuditEvent.action == "stats_released")).all()
        assert sorted(e["key"] for e in events) == sorted(expected + parts)
        _chain_intact()
