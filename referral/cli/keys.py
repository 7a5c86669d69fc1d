"""`flask keys init|rotate|status|retire`: the key ring (DESIGN.md, Encryption)."""

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from referral.cli import fail
from referral.errors import DomainError
from referral.extensions import db
from referral.models.base import utcnow
from referral.services import crypto
from referral.services import keys as keys_service

group = AppGroup("keys", help="Manage the key ring (key-encryption keys).")


def _ring() -> crypto.Keyring:
    try:
        return crypto.keyring()
    except crypto.KeyringError as exc:
        fail(str(exc))


def _no_schema(exc: Exception):
    db.session.rollback()
    fail(f"cannot read the data keys ({type(exc).__name__}); "
         "is the schema in place (`flask db upgrade`)?")


@group.command("init")
def init():
    """Create the key ring where REFERRAL_KEYRING points (never overwrites one)."""
    path = current_app.config["KEYRING"]
    try:
        ring = crypto.Keyring.create(path)
    except (crypto.KeyringError, OSError) as exc:
        fail(f"key ring not created: {exc}")
    click.echo(f"created key ring {path} (mode 0600) with current key {ring.current}")
    click.echo("back it up apart from the database: without it no personal data can be read")


@group.command("rotate")
@click.option("--resume", is_flag=True,
              help="Only finish an unfinished rotation; never create a key.")
@click.option("--batch-size", default=keys_service.BATCH_SIZE, show_default=True,
              type=click.IntRange(1, 10_000), help="Data keys per committed batch.")
def rotate(resume, batch_size):
    """Make a new current key and rewrap every data key with it (no field re-encrypted).

    Each data key is rewrapped by its own guarded UPDATE and committed in batches, so
    stopping half-way loses nothing: every key stays wrapped by a key still in the ring.
    If some data keys are not yet wrapped by the current key (an interrupted rotation),
    this finishes that work and creates no new key; run it again afterwards for a new
    key. --resume does only the finishing, never creating a key.
    """
    ring = _ring()
    try:
        plan = keys_service.plan_rotation(db.session, ring, resume=resume)
    except sa.exc.SQLAlchemyError as exc:
        _no_schema(exc)
    if plan.created:
        click.echo(f"new current key {plan.target}; rewrapping {plan.pending} data keys")
    elif plan.pending:
        click.echo(f"finishing an unfinished rotation to {plan.target} (no new key): "
                   f"{plan.pending} data keys to rewrap")
    else:
        click.echo(f"nothing to resume: every data key is wrapped by {plan.target}")
        return
    totals = keys_service.Batch()
    now = utcnow()
    try:
        with ring.rotating():
            for batch in keys_service.rewrap(db.session, ring, plan.target, now, batch_size):
                db.session.commit()
                totals.rewrapped += batch.rewrapped
                totals.changed += batch.changed
                totals.failed += batch.failed
                click.echo(f"  {totals.rewrapped + totals.changed + len(totals.failed)}"
                           f"/{plan.pending} done")
    except (Exception, KeyboardInterrupt) as exc:
        db.session.rollback()
        # Only the class name: a driver message could quote parameters.
        fail(f"rotation stopped ({type(exc).__name__}) after {totals.rewrapped} data keys; "
             "nothing is lost: run `flask keys rotate --resume`")
    keys_service.record_rotation(db.session, plan, totals, now)
    db.session.commit()
    left = keys_service.pending(db.session, plan.target)
    click.echo(f"rewrapped {totals.rewrapped} data keys to {plan.target}; "
               f"{totals.changed} changed meanwhile; {len(totals.failed)} did not open")
    for subject_id in totals.failed[:20]:
        click.echo(f"  data key of subject {subject_id} did not open", err=True)
    if left:
        fail(f"{left} data keys are still not wrapped by {plan.target}; "
             "run `flask keys rotate --resume`")
    old = [kek_id for kek_id in ring.keks if kek_id != plan.target]
    if old:
        click.echo(f"older keys now wrap nothing and can be retired: {', '.join(old)} "
                   "(`flask keys retire KEK_ID`, after a backup of the key ring)")


@group.command("status")
def status():
    """List the keys: id, current, created, data keys each wraps, and which can be retired.

    Exits non-zero when the database holds data keys wrapped by a key the ring lacks."""
    try:
        rows = keys_service.status(db.session, _ring())
    except sa.exc.SQLAlchemyError as exc:
        _no_schema(exc)
    click.echo(f"{'KEY':<24} {'CURRENT':<8} {'CREATED':<20} {'DATA KEYS':>10}  NOTE")
    for row in rows:
        note = ("retirable" if row.retirable else
                "" if row.in_ring else "MISSING from the key ring: these cannot be opened")
        created = row.created_at[:19].replace("T", " ")
        click.echo(f"{row.id:<24} {'yes' if row.current else '':<8} {created:<20} "
                   f"{row.data_keys:>10}  {note}".rstrip())
    missing = [row for row in rows if not row.in_ring]
    if missing:
        fail(f"{sum(r.data_keys for r in missing)} data keys are wrapped by keys missing "
             "from the key ring; restore the key ring from its backup")


@group.command("retire")
@click.argument("kek_id")
def retire(kek_id):
    """Remove an old key from the ring; refused for the current key or one still in use."""
    ring = _ring()
    try:
        keys_service.retire(db.session, ring, kek_id, utcnow())
    except (DomainError, crypto.KeyringError) as exc:
        db.session.rollback()
        fail(str(exc))
    db.session.commit()
    click.echo(f"retired {kek_id}; {len(ring.keks)} keys left, current {ring.current}")
