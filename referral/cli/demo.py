"""`flask demo [--cases N] [--port P] [--no-serve]`: a ready demo in instance/.

Safe to run again: what exists is kept (config, key ring, schema, directory, accounts,
cases), so a second run only serves. The output is for the operator: it shows the demo
accounts' passwords once, and counts, never anything about the people in the cases.
"""

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
from referral.cli import fail
from referral.errors import Invalid
from referral.extensions import db
from referral.models import Facility, User
from referral.models.base import utcnow
from referral.services import crypto
from referral.services import demo as demo_service

HOST = "127.0.0.1"  # never 0.0.0.0: the demo's passwords are printed on the screen
SEED = 2026


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
    names = [spec.username for spec, _ in rows if spec.role == "promoter"]
    return list(db.session.scalars(sa.select(User).where(User.username.in_(names))
                                   .order_by(User.username)))


def _cases(promoters, count: int, now) -> None:
    existing = demo_service.case_count(db.session)
    if existing:
        click.echo(f"cases: the database holds {existing} already; none added")
        return
    summary = demo_service.add_cases(db.session, promoters, count, rng=random.Random(SEED),
                                     now=now, between_batches=db.session.commit)
    db.session.commit()
    months = sorted(summary.months)
    span = f" from {months[0]} to {months[-1]}" if months else ""
    click.echo(f"cases: {summary.added} added{span} at {len(promoters)} border posts; "
               f"{summary.returning} by returning persons, {summary.closed} closed")


def _serve(app, port: int) -> None:
    settings.validate(app.config)
    db.session.remove()  # release the database before requests need it
    base = f"http://{HOST}:{port}"
    click.echo(f"\nserving the demo on {base}/ (Ctrl+C to stop)")
    click.echo(f"  health:   {base}/healthz")
    click.echo(f"  API spec: {base}/api/v1/openapi.json")
    click.echo(f"  log in:   curl -s -X POST {base}/api/v1/auth/token "
               "-H 'Content-Type: application/json' "
               "-d '{\"username\": \"promotor.amatillo\", \"password\": \"...\"}'")
    click.echo("            then send 'Authorization: Bearer <token>' to the API")
    # app.run() does nothing under the `flask` command, so serve with Werkzeug directly.
    run_simple(HOST, port, app, use_reloader=False, use_debugger=False, threaded=True)


@click.command("demo")
@click.option("--cases", "case_count", default=300, show_default=True,
              type=click.IntRange(min=0), help="Synthetic cases to add to an empty demo.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1 to serve on.")
@click.option("--no-serve", is_flag=True, help="Set the demo up, then exit.")
@with_appcontext
def command(case_count, port, no_serve):
    """A ready demo: schema, keys, directory, accounts and cases; then serve it locally."""
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
    _cases(_users(), case_count, now)
    if not no_serve:
        _serve(app, port)
