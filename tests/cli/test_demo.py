"""`flask demo`: a ready demo in its instance folder, that a second run leaves alone."""

import csv
import io
import logging
import stat
from datetime import UTC, datetime
from importlib import resources

import click
import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Config

from referral import create_app
from referral.extensions import db
from referral.models import Case, Facility, Subject, User
from referral.models.codes import ROLES
from referral.services import auth
from tests.conftest import test_config as make_config


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


def run_demo(app, cases=40):
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--cases", str(cases)])
    return result


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
        cases = list(db.session.scalars(sa.select(Case)))
        kinds = {db.session.get(Facility, case.facility_id).kind for case in cases}
    assert len(cases) == 40
    assert kinds == {"border_post"}
    assert all(case.created_at < datetime.now(UTC) for case in cases)
    assert len({case.created_at.strftime("%Y-%m") for case in cases}) > 6
    assert "40 added" in output


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
