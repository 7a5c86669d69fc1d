"""`flask synthetic`: realistic, reproducible, encrypted synthetic data in bulk."""

from contextlib import contextmanager
from datetime import UTC, datetime

import click
import pytest
import sqlalchemy as sa

from referral import create_app
from referral.extensions import db
from referral.models import (
    AuditEvent,
    Case,
    Consent,
    Facility,
    FollowUp,
    Referral,
    StatsRelease,
    Subject,
)
from referral.services import (
    demo,
    duplicates,
    pseudonyms,
    synthetic_pipeline,
    synthetic_writer,
)
from referral.services.synthetic import Builder, finished_months
from tests.conftest import scratch_database
from tests.conftest import test_config as make_config

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
STAMP = "2026-11-22T14:00:00Z"
START_OF_DAY = NOW.replace(hour=0, minute=0)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)


def with_directory() -> None:
    demo.import_directory(db.session, NOW)
    db.session.commit()


def synthetic(app, *args, release=False):
    """Run the command as an operator would, with the clock pinned (and, unless asked,
    without the final statistics release, which has tests of its own)."""
    db.session.commit()  # the command's session must find no transaction open
    flags = [] if release else ["--no-release"]
    result = app.test_cli_runner().invoke(
        args=["synthetic", "--now", STAMP, *flags, *map(str, args)])
    db.session.expire_all()
    return result


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def fill(app):
    """The demo directory and 2,000 synthetic cases over 12 months."""
    with_directory()
    result = synthetic(app, "--cases", 2000, "--seed", 7)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def filled(app):
    return fill(app)


def test_adds_the_cases_asked_for_each_in_one_of_the_last_finished_months(app):
    with_directory()
    result = synthetic(app, "--cases", 300, "--months", 3, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert count(Case) == 300 and count(Consent) == 300
    assert 250 <= count(Subject) <= 300  # some people come back
    first, last = db.session.execute(sa.select(sa.func.min(Case.created_at),
                                               sa.func.max(Case.created_at))).one()
    assert first >= datetime(2026, 8, 1, tzinfo=UTC) and last < PERIOD_END
    months = {f"{c:%Y-%m}" for c in db.session.scalars(sa.select(Case.created_at))}
    assert months == {"2026-08", "2026-09", "2026-10"}
    assert finished_months(NOW, 3)[0][0] == datetime(2026, 8, 1, tzinfo=UTC)
    summary = [line for line in result.stdout.splitlines() if line.startswith("synthetic:")]
    assert len(summary) == 1 and "300 cases" in summary[0] and "seed 1" in summary[0]


def test_finished_months_cross_the_new_year():
    spans = finished_months(datetime(2027, 1, 5, 8, 0, tzinfo=UTC), 2)
    assert spans == [(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
                     (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))]


def rows_of_the_run() -> dict:
    """What a run wrote, keyed by facility code instead of the database's facility ids."""
    code = dict(db.session.execute(sa.select(Facility.id, Facility.code)).all())
    cases = {c.id: (c.created_at, code[c.facility_id], c.sex, c.nationality, c.age_band,
                    c.status, c.urgency, tuple(c.needs), tuple(c.vulnerabilities), c.notes)
             for c in db.session.scalars(sa.select(Case))}
    people = {s.id: (s.given_name, s.family_name, s.birth_date, s.birth_year,
                     s.age_estimate, s.phone, tuple(s.languages), s.match_key)
              for s in db.session.scalars(sa.select(Subject))}
    sent = {r.id: (r.case_id, code[r.to_facility_id], r.status, r.created_at,
                   r.responded_at, r.closed_at, r.expires_at, r.outcome, r.reason,
                   tuple(r.services))
            for r in db.session.scalars(sa.select(Referral))}
    checks = {f.id: (f.kind, f.status, f.due_at, f.outcome, f.notes)
              for f in db.session.scalars(sa.select(FollowUp))}
    return {"cases": cases, "subjects": people, "referrals": sent, "follow_ups": checks}


def codes_of_the_run() -> set[str]:
    """The pseudonyms and slip codes: random, like intake's, whatever the seed."""
    return set(db.session.scalars(sa.select(Subject.pseudonym))) | set(
        db.session.scalars(sa.select(Referral.code)))


@contextmanager
def second_database(database_url):
    """A fresh database of its own (in memory, or a scratch PostgreSQL database)."""
    if database_url.startswith("postgres"):
        with scratch_database(database_url, "synthetic_twin") as url:
            yield url
    else:
        yield "sqlite://"


def test_the_same_seed_gives_the_same_data_in_one_batch_or_several_but_new_pseudonyms(
        app, database_url, keyring_path, monkeypatch):
    children = []
    from_child = synthetic_pipeline._from_child

    def spied(*args):
        children.append(args[2:])
        yield from from_child(*args)

    monkeypatch.setattr(synthetic_pipeline, "_from_child", spied)
    with_directory()
    assert synthetic(app, "--cases", 150, "--seed", 42, "--batch-size", 1000).exit_code == 0
    first, first_codes = rows_of_the_run(), codes_of_the_run()
    with second_database(database_url) as url:
        other = create_app(make_config(url, keyring_path))
        with other.app_context():
            db.create_all()
            with_directory()
            result = other.test_cli_runner().invoke(args=[
                "synthetic", "--now", STAMP, "--no-release", "--cases", "150", "--seed", "42",
                "--batch-size", "100"])  # two batches: drawn in a child process
            assert result.exit_code == 0, result.output
            second, second_codes = rows_of_the_run(), codes_of_the_run()
            db.session.remove()
            db.engine.dispose()
    assert second == first
    assert any(person[0] for person in first["subjects"].values())  # names, decrypted
    assert len(first_codes) == len(second_codes) > 150
    assert not first_codes & second_codes
    assert children == ([(150, 100)] if synthetic_pipeline.can_fork() else [])


def test_a_failure_while_drawing_stops_in_one_line_and_keeps_the_batches_written(
        app, monkeypatch):
    drawn = []
    add_case = Builder.add_case

    def failing(builder, at):
        if len(drawn) == 150:
            raise ValueError("Ana Pérez")  # a value: it must not reach the screen
        drawn.append(at)
        add_case(builder, at)

    monkeypatch.setattr(Builder, "add_case", failing)
    with_directory()
    result = synthetic(app, "--cases", 300, "--seed", 9, "--batch-size", 100)
    assert result.exit_code != 0
    assert "synthetic data stopped" in result.output and "Ana" not in result.output
    assert count(Case) == 100  # the first batch, committed before the failure


def test_codes_the_database_holds_already_are_drawn_again(app, monkeypatch):
    with_directory()
    assert synthetic(app, "--cases", 40, "--seed", 1).exit_code == 0
    taken = list(db.session.scalars(sa.select(Subject.pseudonym)))
    draws = []
    random_codes = synthetic_writer.random_codes

    def colliding(count, length):
        draws.append(count)
        fresh = random_codes(count, length)
        return taken[:count // 2] + fresh[count // 2:] if len(draws) == 1 else fresh

    monkeypatch.setattr(synthetic_writer, "random_codes", colliding)
    assert synthetic(app, "--cases", 40, "--seed", 2).exit_code == 0
    codes = list(db.session.scalars(sa.select(Subject.pseudonym)))
    assert len(codes) == len(set(codes)) > len(taken)
    assert all(pseudonyms.is_valid(code) for code in codes)
    assert draws[1] == draws[0] // 2  # the taken half, drawn again


def test_different_seeds_give_different_data(app):
    with_directory()
    assert synthetic(app, "--cases", 100, "--seed", 1).exit_code == 0
    before = rows_of_the_run()
    assert synthetic(app, "--cases", 100, "--seed", 2).exit_code == 0
    after = rows_of_the_run()
    added = [after["cases"][key] for key in after["cases"].keys() - before["cases"].keys()]
    assert len(added) == 100
    assert sorted(added, key=str) != sorted(before["cases"].values(), key=str)


def test_the_same_seed_twice_in_one_database_is_refused_in_one_line(app):
    with_directory()
    assert synthetic(app, "--cases", 50, "--seed", 3).exit_code == 0
    result = synthetic(app, "--cases", 50, "--seed", 3)
    assert result.exit_code != 0
    assert "seed 3" in result.output and result.output.strip().count("\n") <= 1
    assert count(Case) == 50


def test_personal_fields_are_encrypted_like_real_ones_and_the_app_reads_them(filled):
    subject = db.session.scalars(sa.select(Subject).where(Subject.match_key.is_not(None))
                                 .order_by(Subject.pseudonym)).first()
    raw = db.session.execute(sa.text("SELECT given_name FROM subjects WHERE pseudonym = :p"),
                             {"p": subject.pseudonym}).scalar_one()
    name = subject.given_name
    assert name and bytes(raw) and name.encode() not in bytes(raw)
    assert subject.data_key is not None and subject.data_key.kek_id
    assert pseudonyms.is_valid(subject.pseudonym)
    assert subject.match_key == duplicates.key_of({
        "given_name": subject.given_name, "family_name": subject.family_name,
        "birth_date": subject.birth_date, "birth_year": subject.birth_year,
        "sex": subject.sex, "nationality": subject.nationality})
    noted = db.session.scalars(sa.select(Case).where(Case._notes.is_not(None))).first()
    assert noted.notes and noted.notes.encode() not in bytes(noted._notes)
    assert all(r.reason for r in db.session.scalars(sa.select(Referral).limit(50)))
    # Nothing about a person reaches the operator's screen.
    assert name not in filled.output and subject.pseudonym not in filled.output


def test_one_audit_event_with_counts_only(filled):
    events = db.session.scalars(sa.select(AuditEvent)
                                .where(AuditEvent.action == "synthetic_data_added")).all()
    assert len(events) == 1
    detail = events[0].detail
    assert detail["cases"] == 2000 and detail["follow_ups"] == count(FollowUp)
    assert sum(detail["referrals"].values()) == count(Referral)
    assert set(detail) == {"cases", "subjects", "referrals", "follow_ups", "months"}


def test_refuses_without_a_directory_in_one_line(app):
    result = synthetic(app, "--cases", 10, "--seed", 1)
    assert result.exit_code != 0
    assert "directory" in result.output and result.output.strip().count("\n") == 0
    assert count(Case) == 0


def test_refuses_without_a_key_ring(app, database_url, tmp_path):
    with_directory()
    with click.Context(click.Command("synthetic"), info_name="synthetic"):
        other = create_app(make_config(database_url, tmp_path / "missing.json"))
    db.session.commit()
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["synthetic", "--cases", "10"])
        db.session.remove()
        db.engine.dispose()
    assert result.exit_code != 0
    assert "key ring" in result.output and result.output.strip().count("\n") == 0
    assert count(Case) == 0


def test_ends_by_running_stats_release(app, monkeypatch):
    runs = []

    @click.group("stats")
    def stats():
        """A stand-in for `flask stats`."""

    @stats.command("release")
    @click.option("--period", default=None)
    def release(period):
        runs.append((period, count(Case)))
        click.echo("released 2026-10")

    monkeypatch.setitem(app.cli.commands, "stats", stats)
    with_directory()
    result = synthetic(app, "--cases", 20, "--seed", 5, release=True)
    assert result.exit_code == 0, result.output
    assert runs == [(None, 20)] and result.stdout.rstrip().endswith("released 2026-10")


def test_refuses_months_whose_statistics_are_released_already(app):
    with_directory()
    db.session.add(StatsRelease(period="month", period_key="2026-03",
                                starts_at=datetime(2026, 3, 1, tzinfo=UTC),
                                ends_at=datetime(2026, 4, 1, tzinfo=UTC), k=5, created_at=NOW))
    result = synthetic(app, "--cases", 20, "--seed", 5)
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "Error: statistics of month 2026-03 are released already: synthetic records in "
        "those months would change finished periods (use a database with no releases "
        "there)")
    assert count(Case) == 0
