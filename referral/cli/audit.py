"""`flask audit verify`."""

import click
from flask.cli import AppGroup

from referral.cli import fail
from referral.extensions import db
from referral.services import audit

group = AppGroup("audit", help="Check the audit log.")


@group.command("verify")
@click.option("--batch", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Events read at a time.")
def verify(batch):
    """Check the hash chain; exit non-zero naming the first bad event when it is broken."""
    verdict = audit.verify(db.session, batch=batch, between_batches=db.session.commit)
    db.session.commit()
    if not verdict.ok:
        where = (f"event {verdict.first_bad_event} (seq {verdict.first_bad_seq})"
                 if verdict.first_bad_event else f"seq {verdict.first_bad_seq}")
        fail(f"audit chain broken at {where}: {verdict.reason}; "
             f"{verdict.events} events before it are intact")
    click.echo(f"audit chain ok: {verdict.events} events")
