"""The retention policy: what the daily purge deletes or crypto-shreds, and what it keeps."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral import create_app
from referral.config import ConfigError
from referral.extensions import db
from referral.models import (
    ApiToken,
    AuditEvent,
    Case,
    DataKey,
    FollowUp,
    LoginFailure,
    Notification,
    Referral,
    Subject,
)
from referral.services import audit, retention
from tests.conftest import test_config
from tests.factories import CaseFactory, SubjectFactory, UserFactory
from tests.jobs.test_jobs import LONG_AGO, NOW, count, make_follow_up, make_referral, old_case

RETENTION_DAYS = 1825
NOTHING = dict.fromkeys(retention.KINDS, 0)


def purge(**kwargs):
    kwargs.setdefault("retention_days", RETENTION_DAYS)
    return retention.purge(db.session, now=NOW, **kwargs)


def raw(model, obj_id, *columns):
    """Stored values, as a copy of the database file holds them."""
    table = model.__table__
    return db.session.execute(sa.select(*(table.c[c] for c in columns))
                              .where(table.c.id == obj_id)).one()


def test_a_person_idle_past_retention_is_shredded_but_still_counted(app):
    case = old_case(given_name="María", family_name="Pérez", phone="+504 9999 0000",
                    match_key="a" * 64)
    second = CaseFactory(subject=case.subject, created_at=LONG_AGO + timedelta(days=30),
                         age_band="18-29")
    referral = make_referral(case, status="completed", outcome="attended")
    referral.completion_notes = "Atendida, tratamiento indicado"
    follow_up = make_follow_up(case, status="done")
    subject = case.subject

    counts = purge()

    assert counts == {**NOTHING, "subjects": 1}
    assert (subject.given_name, subject.family_name, subject.phone, subject.birth_year) == (
        None, None, None, None)
    assert (subject.sex, subject.nationality, subject.pseudonym) == (
        "female", "HN", subject.pseudonym)
    assert subject.erased_at == NOW and subject.match_key is None
    assert db.session.get(DataKey, subject.id) is None
    assert (case.notes, second.notes, referral.reason, referral.completion_notes,
            follow_up.notes) == (None,) * 5
    assert (second.sex, second.nationality, second.age_band, second.needs) == (
        "female", "HN", "18-29", ["acute_illness"])
    assert (referral.status, referral.outcome, follow_up.status) == (
        "completed", "attended", "done")
    assert raw(Subject, subject.id, "given_name", "family_name", "phone") == (None,) * 3
    assert raw(Case, case.id, "notes") == (None,)
    assert raw(Referral, referral.id, "reason", "completion_notes") == (None, None)
    assert raw(FollowUp, follow_up.id, "notes") == (None,)


def test_a_person_with_a_recent_case_is_kept_whole(app):
    case = old_case(given_name="Rosa")
    recent = CaseFactory(subject=case.subject, created_at=NOW - timedelta(days=3))

    assert purge()["subjects"] == 0
    assert case.subject.given_name == "Rosa" and recent.notes is not None
    assert case.subject.erased_at is None


@pytest.mark.parametrize("open_item", [
    lambda case: make_referral(case, status="pending"),
    lambda case: make_referral(case, status="accepted"),
    lambda case: make_follow_up(case, status="scheduled"),
    lambda case: make_follow_up(case, status="overdue"),
], ids=["pending_referral", "accepted_referral", "scheduled_follow_up", "overdue_follow_up"])
def test_a_person_with_something_still_open_is_kept_whole(app, open_item):
    case = old_case(given_name="Lucía")
    make_referral(case, status="declined")
    open_item(case)

    assert purge()["subjects"] == 0
    assert case.subject.given_name == "Lucía"
    assert db.session.get(DataKey, case.subject.id) is not None


def test_only_idle_people_go_when_both_kinds_are_present(app):
    idle, busy = old_case(given_name="Ana"), old_case(given_name="Eva")
    make_referral(busy, status="accepted")

    assert purge()["subjects"] == 1
    assert (idle.subject.given_name, busy.subject.given_name) == (None, "Eva")


@pytest.mark.parametrize(("age_days", "shredded"), [(RETENTION_DAYS + 1, 1), (3, 0)])
def test_a_person_with_no_case_goes_by_when_they_were_recorded(app, age_days, shredded):
    subject = SubjectFactory(given_name="Inés", created_at=NOW - timedelta(days=age_days))
    assert purge()["subjects"] == shredded
    assert subject.given_name == (None if shredded else "Inés")


def test_retention_days_sets_how_long_a_person_is_kept(app):
    case = CaseFactory(subject__created_at=NOW - timedelta(days=100),
                       created_at=NOW - timedelta(days=100))

    assert purge(retention_days=101)["subjects"] == 0
    assert purge(retention_days=99)["subjects"] == 1
    assert case.subject.erased_at == NOW


def test_tokens_failures_and_notifications_go_by_age(app):
    user = UserFactory()
    window = 15 * 60

    def token(**times):
        times.setdefault("expires_at", NOW + timedelta(hours=1))
        db.session.add(ApiToken(user_id=user.id, digest=uuid.uuid4().hex, **times))

    token(expires_at=NOW - timedelta(days=2))                 # expired two days ago: goes
    token(expires_at=NOW - timedelta(hours=2))                # expired today: stays
    token(revoked_at=NOW - timedelta(days=1, seconds=1))      # revoked over a day ago: goes
    token(revoked_at=NOW - timedelta(hours=1))                # revoked today: stays
    token()                                                   # in use: stays
    for age in (window + 1, window * 10, window - 60):
        db.session.add(LoginFailure(kind="username", key="k", at=NOW - timedelta(seconds=age)))
    facility_id = user.facility_id
    for n, read_days in enumerate((91, 89, None)):
        db.session.add(Notification(
            facility_id=facility_id, kind="referral_received", dedupe_key=f"test:{n}",
            created_at=NOW - timedelta(days=120),
            read_at=NOW - timedelta(days=read_days) if read_days else None))
    db.session.flush()

    counts = purge(notification_days=90, login_window_seconds=window)

    assert counts == {"subjects": 0, "api_tokens": 2, "login_failures": 2, "notifications": 1}
    assert count(ApiToken) == 3 and count(LoginFailure) == 1
    assert db.session.scalars(sa.select(Notification.dedupe_key).order_by(
        Notification.dedupe_key)).all() == ["test:1", "test:2"]


def test_a_second_purge_purges_nothing(app):
    old_case()
    db.session.add(LoginFailure(kind="address", key="k", at=LONG_AGO))
    first = purge()
    assert first["subjects"] == 1 and first["login_failures"] == 1
    assert purge() == NOTHING


def test_the_audit_log_records_each_purge_with_counts_only(app):
    old_case(given_name="Juana")
    counts = purge()
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "retention_purge")).one()
    assert event.detail == counts and event.object_id is None and event.at == NOW
    assert audit.verify(db.session).ok


def test_subjects_go_in_batches_with_a_call_between_them(app):
    subjects = [old_case().subject for _ in range(5)]
    calls = []

    counts = purge(batch_size=2, between_batches=lambda: calls.append(count(
        Subject, Subject.erased_at.is_not(None))))

    assert counts["subjects"] == 5
    assert calls == [2, 4, 5]
    assert all(s.erased_at == NOW for s in subjects)


@pytest.mark.parametrize("value", [29, 0, -1])
def test_a_retention_shorter_than_thirty_days_is_refused(database_url, keyring_path, value):
    with pytest.raises(ConfigError, match="REFERRAL_RETENTION_DAYS"):
        create_app(test_config(database_url, keyring_path, RETENTION_DAYS=value))


def test_retention_settings_come_from_the_environment(monkeypatch, database_url, keyring_path):
    monkeypatch.setenv("REFERRAL_RETENTION_DAYS", "400")
    monkeypatch.setenv("REFERRAL_NOTIFICATION_DAYS", "30")
    app = create_app(test_config(database_url, keyring_path))
    assert (app.config["RETENTION_DAYS"], app.config["NOTIFICATION_DAYS"]) == (400, 30)
    monkeypatch.delenv("REFERRAL_RETENTION_DAYS")
    monkeypatch.delenv("REFERRAL_NOTIFICATION_DAYS")
    app = create_app(test_config(database_url, keyring_path))
    assert (app.config["RETENTION_DAYS"], app.config["NOTIFICATION_DAYS"]) == (1825, 90)
