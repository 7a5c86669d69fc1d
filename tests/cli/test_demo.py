"""`flask demo`: a ready demo in its instance folder, that a second run leaves alone."""

import csv
import io
import logging
import stat
from datetime import UTC, datetime, timedelta
from importlib import resources

import click
import flask_migrate
import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Config

from referral import create_app, jobs
from referral.cli import demo as demo_cli
from referral.extensions import db
from referral.models import Case, Facility, FollowUp, Notification, Referral, Subject, User
from referral.models.codes import REFERRAL_STATUSES, ROLES
from referral.services import auth
from tests.conftest import test_config as make_config

JOB_SLACK = timedelta(minutes=5)  # the scheduler runs the frequent jobs every 5 minutes


def shipped(name: str) -> list[dict]:
    text = resources.files("referral").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module", autouse=True)
def keep_logging():
    """Alembic's env.py configures logging from alembic.ini; give pytest its own back."""
    manager = logging.root.manager
    disabled = {name: logger.disabled for name, logger in manager.loggerDict.items()
                if isinstance(logger, logging.Logger)}
    handlers, level = list(logging.root.handlers), logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)
    for name, was in disabled.items():
        logging.getLogger(name).disabled = was


def make_app(folder):
    """The app as `flask demo` builds it: before any key ring or secret key exists."""
    with click.Context(click.Command("demo"), info_name="demo"):
        return create_app(make_config(
            f"sqlite:///{folder}/demo.sqlite3", folder / "instance" / "keyring.json",
            INSTANCE_PATH=str(folder / "instance"), SECRET_KEY=None))


def run_demo(app, cases=60, history=400, serve=False, port=5000):
    args = ["demo", "--cases", str(cases), "--history", str(history), "--port", str(port)]
    return app.test_cli_runner().invoke(args=args + ([] if serve else ["--no-serve"]))


def printed_accounts(output: str) -> dict[str, tuple[str, str]]:
    """username -> (role, password or '(existing)') from the accounts table."""
    rows = (line.split() for line in output.splitlines())
    return {row[0]: (row[1], row[3]) for row in rows if len(row) == 4 and row[1] in ROLES}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    app = make_app(folder)
    result = run_demo(app)
    assert result.exit_code == 0, result.output + repr(result.exception)
    yield app, folder, result.output
    with app.app_context():
        db.engine.dispose()


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                     for model in (Facility, User, Case))


def test_demo_writes_a_private_config_with_the_secret_key_it_uses_and_a_private_key_ring(demo):
    app, folder, _ = demo
    config, ring = folder / "instance" / "config.py", folder / "instance" / "keyring.json"
    written = Config(str(folder))
    written.from_pyfile(str(config))
    assert len(written["SECRET_KEY"]) >= 32 and written["DEMO"] is True
    assert app.config["SECRET_KEY"] == written["SECRET_KEY"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600


def test_demo_directory_has_a_health_post_at_every_border_crossing(demo):
    app, _, _ = demo
    with app.app_context():
        posts = set(db.session.scalars(
            sa.select(Facility.code).where(Facility.kind == "border_post")))
    assert {row["code"] for row in shipped("border-crossings.csv")} <= posts


def test_demo_has_one_confidential_survivors_shelter_per_country_that_hides_its_town(demo):
    app, _, _ = demo
    places = shipped("border-crossings.csv") + shipped("towns.csv")
    with app.app_context():
        hidden = list(db.session.scalars(
            sa.select(Facility).where(Facility.confidential.is_(True))))
    assert sorted(f.country for f in hidden) == sorted({row["country"] for row in places})
    for shelter in hidden:
        assert shelter.kind == "shelter"
        assert {"gbv_care", "trafficking_protection", "shelter"} <= set(shelter.services)
        assert shelter.accepts_trafficking_survivors and shelter.accepts_women_only
        assert not any(row["name"].upper() in f"{shelter.code} {shelter.name}".upper()
                       for row in places)


def test_demo_accounts_of_every_role_log_in_with_the_printed_passwords(demo):
    app, _, output = demo
    accounts = printed_accounts(output)
    assert {role for role, _ in accounts.values()} == set(ROLES)
    client = app.test_client()
    for username, (role, password) in accounts.items():
        response = client.post("/api/v1/auth/token",
                               json={"username": username, "password": password})
        assert response.status_code == 200, username
        assert response.get_json()["user"]["role"] == role


def test_demo_cases_come_from_border_posts_over_the_past_year(demo):
    app, _, output = demo
    with app.app_context():
        cases = list(db.session.scalars(sa.select(Case).where(Case.created_by.is_not(None))))
        kinds = {db.session.get(Facility, case.facility_id).kind for case in cases}
    assert len(cases) == 60
    assert kinds == {"border_post"}
    assert all(case.created_at < datetime.now(UTC) for case in cases)
    assert len({case.created_at.strftime("%Y-%m") for case in cases}) > 6
    assert "60 added" in output


def test_demo_adds_a_synthetic_history_over_the_last_twelve_finished_months(demo):
    app, _, output = demo
    today = datetime.now(UTC)
    this_month = datetime(today.year, today.month, 1, tzinfo=UTC)
    with app.app_context():
        history = list(db.session.scalars(sa.select(Case).where(Case.created_by.is_(None))))
        kinds = {db.session.get(Facility, case.facility_id).kind for case in history}
    months = {case.created_at.strftime("%Y-%m") for case in history}
    assert len(history) == 400 and len(months) == 12
    assert all(case.created_at < this_month for case in history)
    assert min(case.created_at for case in history) >= this_month - timedelta(days=366)
    assert "border_post" in kinds and kinds <= {"border_post", "clinic"}
    assert "history: 400 synthetic cases" in output


def test_demo_output_shows_no_name_of_a_person(demo):
    app, _, output = demo
    with app.app_context():
        names = {value for subject in db.session.scalars(sa.select(Subject))
                 for value in (subject.given_name, subject.family_name) if value}
    assert names  # some people were given names
    assert not [name for name in names if name in output]


def test_running_the_demo_again_adds_nothing_and_shows_no_password(demo):
    app, _, _ = demo
    before = counts(app)
    result = run_demo(app, cases=10)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert counts(app) == before
    assert {password for _, password in printed_accounts(result.output).values()} \
        == {"(existing)"}


def test_demo_refuses_a_database_with_accounts_that_are_not_the_demos(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        flask_migrate.upgrade()
        auth.create_user(db.session, "ana.real", "a real password!", "admin")
        db.session.commit()
    result = run_demo(app)
    assert result.exit_code != 0
    assert "none of the demo's" in result.output
    assert counts(app) == (0, 1, 0)
    with app.app_context():
        db.engine.dispose()


# -- the referral loop -------------------------------------------------------------------


def login(client, output: str, username: str) -> dict:
    password = printed_accounts(output)[username][1]
    response = client.post("/api/v1/auth/token",
                           json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def all_of(app, model) -> list:
    with app.app_context():
        return list(db.session.scalars(sa.select(model)))


def test_demo_has_referrals_in_every_state_each_agreeing_with_the_clock(demo):
    app, _, _ = demo
    now = datetime.now(UTC)
    found = all_of(app, Referral)
    assert {r.status for r in found} == set(REFERRAL_STATUSES)
    for r in found:
        assert r.created_at < now
        if r.status == "pending":  # not past its deadline, else the job would expire it
            assert r.responded_at is None and r.expires_at > now
        if r.status == "expired":  # unanswered, and expired by the job's next run
            assert r.responded_at is None
            assert r.expires_at <= r.closed_at <= r.expires_at + JOB_SLACK
        if r.status in ("accepted", "declined"):
            assert r.created_at < r.responded_at < r.expires_at
        if r.status in ("completed", "no_show"):
            assert r.responded_at < r.completed_at < now
    assert "emergency" in {r.urgency for r in found if r.status == "pending"}


def test_demo_refers_only_people_who_agreed_to_share_and_leaves_the_others_unreferred(demo):
    app, _, _ = demo
    cases = all_of(app, Case)
    referred = {r.case_id for r in all_of(app, Referral)}
    agreed = {case.id for case in cases if case.consent.referral_sharing}
    assert referred and referred <= agreed
    assert len(cases) > len(agreed)


def test_demo_has_follow_ups_overdue_since_they_fell_due_and_others_still_to_come(demo):
    app, _, _ = demo
    now = datetime.now(UTC)
    found = all_of(app, FollowUp)
    overdue = [f for f in found if f.status == "overdue"]
    scheduled = [f for f in found if f.status == "scheduled"]
    assert overdue and scheduled
    assert all(f.due_at <= f.overdue_at <= f.due_at + JOB_SLACK for f in overdue)
    assert all(f.due_at > now - JOB_SLACK for f in scheduled)
    assert any(f.due_at > now + timedelta(days=1) for f in scheduled)


@pytest.mark.parametrize("username", ["clinica.santarosa", "albergue.casasegura"])
def test_demo_staff_log_in_to_pending_referrals_emergencies_first_and_unread_news(
        demo, username):
    app, _, output = demo
    client = app.test_client()
    headers = login(client, output, username)
    inbox = client.get("/api/v1/referrals?direction=incoming&status=pending", headers=headers)
    assert inbox.status_code == 200
    pending = inbox.get_json()["items"]
    assert pending and pending[0]["urgency"] == "emergency"
    news = client.get("/api/v1/notifications?unread=true", headers=headers).get_json()
    assert news["unread"] > 0
    assert "referral_received" in {item["kind"] for item in news["items"]}


def test_demo_promoter_finds_overdue_follow_ups_and_news_of_the_referrals_sent(demo):
    app, _, output = demo
    client = app.test_client()
    headers = login(client, output, "promotor.amatillo")
    overdue = client.get("/api/v1/follow-ups?status=overdue", headers=headers).get_json()
    assert overdue["total"] > 0
    assert {item["kind"] for item in overdue["items"]} == {"referral_attendance"}
    sent = client.get("/api/v1/referrals?direction=outgoing", headers=headers).get_json()
    assert {"pending", "declined", "expired"} <= {item["status"] for item in sent["items"]}
    news = client.get("/api/v1/notifications?unread=true", headers=headers).get_json()
    assert news["unread"] > 0


def test_demo_prints_how_the_referral_loop_stands_in_counts_that_match_the_database(demo):
    app, _, output = demo
    lines = output.splitlines()
    states = next(line for line in lines if line.startswith("referral states:"))
    unread_at = {line.split()[0]: int(line.split()[1]) for line in lines
                 if line.startswith("  ") and len(line.split()) == 2}
    with app.app_context():
        by_state = dict(db.session.execute(sa.select(Referral.status, sa.func.count())
                                           .group_by(Referral.status)).all())
        clinic = db.session.scalar(sa.select(Facility.id).where(
            Facility.code == "CL-SV-SANTA-ROSA-DE-LIMA"))
        unread = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.facility_id == clinic, Notification.read_at.is_(None)))
    for state, count in by_state.items():
        assert f"{count} {state}" in states
    assert unread_at["CL-SV-SANTA-ROSA-DE-LIMA"] == unread > 0


def test_stand_in_staff_who_answered_for_other_facilities_cannot_log_in(demo):
    app, _, _ = demo
    stand_ins = [user for user in all_of(app, User) if user.username.startswith("equipo.")]
    assert stand_ins and not any(user.active for user in stand_ins)
    client = app.test_client()
    for password in ("!", "a password someone might try"):
        response = client.post("/api/v1/auth/token", json={
            "username": stand_ins[0].username, "password": password})
        assert response.status_code == 401


def story_of(app) -> tuple[list, list]:
    """The referral loop of a demo, without the random ids, pseudonyms and slip codes."""
    with app.app_context():
        referrals = db.session.execute(
            sa.select(Referral.created_at, Referral.status, Referral.urgency, Facility.code,
                      Referral.closed_at)
            .join(Facility, Facility.id == Referral.to_facility_id)
            .order_by(Referral.created_at)).all()
        follow_ups = db.session.execute(
            sa.select(FollowUp.due_at, FollowUp.kind, FollowUp.status, FollowUp.outcome)
            .order_by(FollowUp.due_at, FollowUp.kind)).all()
        db.engine.dispose()
    return referrals, follow_ups


def test_the_same_seed_and_clock_tell_the_same_referral_story(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_cli, "utcnow", lambda: datetime(2026, 3, 9, 16, 30, tzinfo=UTC))
    stories = []
    for name in ("first", "second"):
        app = make_app(tmp_path / name)
        result = run_demo(app, cases=25, history=100)
        assert result.exit_code == 0, result.output + repr(result.exception)
        stories.append(story_of(app))
    assert stories[0][0] and stories[0] == stories[1]


class RecordingScheduler(BackgroundScheduler):
    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingScheduler.made.append(self)


@pytest.fixture
def no_listening(monkeypatch):
    """Serve without a socket: run_simple records the scheduler's state while 'serving'."""
    RecordingScheduler.made = []
    seen = {}

    def run_simple(host, port, app, **kwargs):
        (scheduler,) = RecordingScheduler.made
        seen.update(host=host, port=port, running=scheduler.running,
                    jobs={job.id for job in scheduler.get_jobs()})
        if seen.get("fail"):
            raise OSError(98, "Address already in use")

    monkeypatch.setattr(jobs, "BackgroundScheduler", RecordingScheduler)
    monkeypatch.setattr(demo_cli, "run_simple", run_simple)
    level = jobs.log.level  # serving turns the job log lines on; give the suite its own back
    yield seen
    jobs.log.setLevel(level)


def test_demo_serves_on_localhost_with_the_scheduler_beside_it_and_stops_both(
        demo, no_listening):
    app, _, _ = demo
    result = run_demo(app, serve=True, port=5123)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert no_listening == {"host": "127.0.0.1", "port": 5123, "running": True,
                            "jobs": set(jobs.JOBS)}
    assert not RecordingScheduler.made[0].running
    assert "scheduler: running" in result.output
    assert all(name in result.output for name in jobs.JOBS)


def test_demo_stops_the_scheduler_when_the_port_is_taken(demo, no_listening):
    app, _, _ = demo
    no_listening["fail"] = True
    result = run_demo(app, serve=True, port=5124)
    assert result.exit_code != 0
    assert "cannot serve on 127.0.0.1:5124: Address already in use" in result.output
    assert not RecordingScheduler.made[0].running
