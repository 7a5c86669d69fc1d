"""`flask users create USERNAME --role ROLE [--facility CODE]`."""

import os

import click
from flask.cli import AppGroup

from referral.cli import fail
from referral.errors import Invalid
from referral.extensions import db
from referral.services import auth

group = AppGroup("users", help="Manage staff accounts.")


@group.command("create")
@click.argument("username")
@click.option("--role", required=True, help="promoter, facility_staff, manager or admin.")
@click.option("--facility", "facility_code", default=None, help="Facility code.")
def create(username, role, facility_code):
    """Create a user; the password comes from REFERRAL_NEW_PASSWORD or a prompt."""
    password = os.environ.get("REFERRAL_NEW_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = auth.create_user(db.session, username, password, role, facility_code)
    except Invalid as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
        fail(f"{exc.message}: {problems}")
    db.session.commit()
    click.echo(f"created {user.role} {user.username}")
