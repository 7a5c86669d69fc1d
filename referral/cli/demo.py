"""`flask demo [--cases N] [--history N] [--port P] [--no-serve]`: a ready demo in instance/.

Safe to run again: what exists is kept (config, key ring, schema, directory, accounts,
cases and their referrals), so a second run only serves. An empty demo gets two kinds of
cases: recent ones recorded through the services by the demo accounts (what their
screens show), and a history of synthetic cases over the last finished months, made by
`flask synthetic`'s service, for the statistics. The output is for the operator: it
shows the demo accounts' passwords once, and counts, never anything about the people in
the cases. It serves with the scheduled jobs running beside the server.
"""

import logging
import os
import random
import secrets
from pathlib import Path

import click
import flask_migrate
import sqlalchemy as sa
from flask import Config, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from referral import config as settings
from referral import jobs
from referral.cli import fail
from referral.errors import DomainError, Invalid
from referral.extensions import db
from referral.models import Facility, User
from referral.models.base import utcnow
from referral.models.codes import REFERRAL_STATUSES
from referral.services import crypto, demo_referrals, synthetic
from referral.services import demo as demo_service

HOST = "127.0.0.1"  # never 0.0.0.0: the demo's passwords are printed on the screen
SEED = 2026
HISTORY_MONTHS = 12  # the synthetic history: a year of finished months to count


def _instance_config(app) -> None:
    """Give instance/config.py a random SECRET_KEY (and DEMO = True) when it has none."""
    path = Path(app.instance_path) / "config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    found = Config(app.instance_path)
    found.from_pyfile(str(path), silent=True)
    lines, key = [], found.get("SECRET_KEY")
    if not key:
        key = secrets.token_urlsafe(48)
        lines.append(f"SECRET_KEY = {key!r}")
    if "DEMO" not in found:
        lines.append("DEMO = True")
    if lines:
        before = path.read_text() if path.exists() else ""
        ends_mid_line = bool(before) and not before.endswith("\n")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(("\n" if ends_mid_line else "")
                         + "# Written by `flask demo`; keep this file private.\n"
                         + "\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        click.echo(f"  config:   {path} (wrote {', '.join(line.split()[0] for line in lines)})")
    else:
        click.echo(f"  config:   {path} (existing)")
    # The app was built before this file had a key; the environment still wins.
    app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or key
    app.config["DEMO"] = True
    app.config["SESSION_COOKIE_SECURE"] = False  # served over plain http on 127.0.0.1


def _keyring(app) -> None:
    path = app.config["KEYRING"]
    if not Path(path).exists():
        try:
            crypto.Keyring.create(path)
        except (crypto.KeyringError, OSError) as exc:
            fail(f"key ring not created: {exc}")
        state = "created, mode 0600"
    else:
        state = "existing"
    try:
        ring = crypto.keyring()
    except crypto.KeyringError as exc:
        fail(str(exc))
    click.echo(f"  key ring: {path} ({state}; current key {ring.current})")


def _schema(app) -> None:
    """Alembic upgrade when the project has migrations, else create the tables."""
    versions = Path(app.extensions["migrate"].directory) / "versions"
    tables = set(sa.inspect(db.engine).get_table_names())
    if any(versions.glob("*.py")):
        if tables and "alembic_version" not in tables:
            fail("the database has tables but no migration history; "
                 "delete it (it is only a demo) and run `flask demo` again")
        flask_migrate.upgrade()
        how = "migrated to the latest revision"
    else:
        db.create_all()
        how = "tables created"
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    click.echo(f"  database: {url.render_as_string(hide_password=True)} ({how})")


def _directory(now) -> None:
    try:
        counts = demo_service.import_directory(db.session, now)
    except Invalid as exc:
        db.session.rollback()
        fail(f"demo directory not imported: {exc.message}")
    db.session.commit()
    kinds = db.session.execute(sa.select(Facility.kind, sa.func.count())
                               .group_by(Facility.kind).order_by(Facility.kind)).all()
    confidential = db.session.scalar(sa.select(sa.func.count())
                                     .where(Facility.confidential.is_(True)))
    click.echo("directory: " + ", ".join(f"{n} {kind}" for kind, n in kinds)
               + f" ({confidential} confidential); {counts['created']} created, "
               f"{counts['updated']} updated, {counts['unchanged']} unchanged")


def _users() -> list:
    rows = demo_service.ensure_users(db.session)
    db.session.commit()
    click.echo("demo accounts (passwords are shown once, when an account is made):")
    click.echo(f"  {'USERNAME':<22} {'ROLE':<15} {'FACILITY':<26} PASSWORD")
    for spec, password in rows:
        click.echo(f"  {spec.username:<22} {spec.role:<15} {spec.facility_code or '-':<26} "
                   f"{password or '(existing)'}")
    names = [spec.username for spec, _ in rows]
    return list(db.session.scalars(sa.select(User).where(User.username.in_(names))
                                   .order_by(User.username)))


def _cases(users, count: int, history: int, now) -> None:
    """Fill an empty demo: live cases, then the synthetic history."""
    existing = demo_service.case_count(db.session)
    if existing:
        click.echo(f"cases: the database holds {existing} already; none added")
        return
    _live_cases(users, count, now)
    _history(history, now)


def _live_cases(users, count: int, now) -> None:
    """Recent intakes at the demo accounts' posts, through the services, and their referrals."""
    summary = demo_referrals.add_cases(db.session, users, count, rng=random.Random(SEED),
                                       now=now, between_batches=db.session.commit)
    db.session.commit()
    months = sorted(summary.months)
    span = f" from {months[0]} to {months[-1]}" if months else ""
    posts = len({user.facility_id for user in users if user.role == "promoter"})
    click.echo(f"cases: {summary.added} added{span} at {posts} border posts; "
               f"{summary.returning} by returning persons, {summary.closed} closed")
    story = summary.story
    click.echo(f"referrals: {story['referrals']} made, {story['retries']} of them to the next "
               f"option after a decline or an expiry; {summary.unshared} cases without "
               "consent to share stay unreferred")
    if story["stand_ins"]:
        click.echo(f"  {story['stand_ins']} other facilities answered through stand-in "
                   "accounts (equipo.<code>) that cannot log in")


def _history(count: int, now) -> None:
    """Synthetic cases, referrals and follow-ups over the last finished months
    (synthetic.add, as `flask synthetic` makes them), so the statistics have data."""
    if not count:
        return
    try:
        summary = synthetic.add(db.session, cases=count, months=HISTORY_MONTHS, seed=SEED,
                                now=now, between_batches=db.session.commit)
    except DomainError as exc:
        db.session.rollback()
        fail(f"synthetic history not added: {exc.message}")
    db.session.commit()
    months = summary.months
    click.echo(f"history: {summary.cases} synthetic cases from {months[0]} to {months[-1]}, "
               f"{summary.subjects} persons, {sum(summary.referrals.values())} referrals, "
               f"{summary.follow_ups} follow-ups")



def _state(users, now) -> None:
    """Where the referral loop stands: counts only, nothing about a person."""
    facilities = {user.facility_id: user.facility.code for user in users if user.facility}
    found = demo_referrals.summarize(db.session, now=now, facility_ids=list(facilities))
    states = found["by_state"]
    click.echo("referral states: " + ", ".join(
        f"{states.get(state, 0)} {state}" + (f" ({found['pending_emergency']} emergency)"
                                             if state == "pending" else "")
        for state in REFERRAL_STATUSES))
    open_ = found["follow_ups"]
    click.echo(f"follow-ups: {open_.get('overdue', 0)} overdue, {open_.get('due_soon', 0)} "
               f"due in the next 7 days, {open_.get('due_later', 0)} due later")
    click.echo("unread notifications at the demo accounts' facilities:")
    for facility_id, code in sorted(facilities.items(), key=lambda item: item[1]):
        click.echo(f"  {code:<26} {found['unread'][facility_id]}")


def _show_job_runs() -> None:
    """One log line per job run on the console, as `flask scheduler run` shows them."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
    job_log = logging.getLogger(jobs.__name__)
    job_log.disabled = False  # alembic's logging config disables loggers made before it
    job_log.setLevel(logging.INFO)


def _serve(app, port: int) -> None:
    settings.validate(app.config)
    db.session.remove()  # release the database before requests need it
    base = f"http://{HOST}:{port}"
    click.echo(f"\nserving the demo on {base}/ (Ctrl+C to stop)")
    click.echo(f"  pages:    open {base}/ in a browser and sign in with a password above")
    click.echo(f"  health:   {base}/healthz")
    click.echo(f"  API spec: {base}/api/v1/openapi.json")
    click.echo(f"  log in:   curl -s -X POST {base}/api/v1/auth/token "
               "-H 'Content-Type: application/json' "
               "-d '{\"username\": \"promotor.amatillo\", \"password\": \"...\"}'")
    click.echo("            then send 'Authorization: Bearer <token>' to the API")
    # Beside the server, in this process only: create_app never starts a scheduler.
    scheduler = jobs.build_scheduler(app)
    _show_job_runs()
    scheduler.start()
    # Not released at start: on SQLite a release holds the write lock for as long as it
    # takes (minutes for a sparse quarter), and the demo's requests would time out.
    click.echo("  statistics: released by the daily job, or a period at a time on a "
               "manager's first request (`flask stats release` does them all)")
    click.echo(f"  scheduler: running {len(jobs.JOBS)} jobs in this process "
               f"({', '.join(f'{name} {job.schedule}' for name, job in jobs.JOBS.items())})")
    try:
        # app.run() does nothing under the `flask` command, so serve with Werkzeug directly.
        run_simple(HOST, port, app, use_reloader=False, use_debugger=False, threaded=True)
    except OSError as exc:
        fail(f"cannot serve on {HOST}:{port}: {exc.strerror or exc}")
    finally:
        scheduler.shutdown()  # waits for a running job to finish its transaction
        click.echo("scheduler stopped")


@click.command("demo")
@click.option("--cases", "case_count", default=300, show_default=True,
              type=click.IntRange(min=0),
              help="Recent cases the demo accounts record, to add to an empty demo.")
@click.option("--history", "history_count", default=2000, show_default=True,
              type=click.IntRange(min=0),
              help=f"Synthetic cases over the last {HISTORY_MONTHS} finished months, for "
                   "the statistics, to add to an empty demo.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1 to serve on.")
@click.option("--no-serve", is_flag=True, help="Set the demo up, then exit.")
@with_appcontext
def command(case_count, history_count, port, no_serve):
    """A ready demo: schema, keys, directory, accounts, cases and referrals; then serve it."""
    app = current_app._get_current_object()
    click.echo(f"demo instance: {app.instance_path}")
    _instance_config(app)
    _keyring(app)
    _schema(app)
    if demo_service.foreign_database(db.session):
        fail("this database has accounts but none of the demo's: "
             "the demo only fills an empty database or its own")
    now = utcnow()
    _directory(now)
    users = _users()
    _cases(users, case_count, history_count, now)
    _state(users, now)
    if not no_serve:
        _serve(app, port)
