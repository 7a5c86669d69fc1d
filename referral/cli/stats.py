"""`flask stats release [--period P]`."""

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from referral.extensions import db
from referral.services import periods, stats

group = AppGroup("stats", help="Statistics releases.")


@group.command("release")
@click.option("--period", "kind", type=click.Choice(periods.KINDS),
              help="Only this kind of period (default: all of them).")
def release(kind):
    """Release every finished period that has no release yet (idempotent)."""
    kinds = (kind,) if kind else stats.ORDER
    made = stats.release_all(db.session, now=datetime.now(UTC),
                             k=current_app.config["SUPPRESSION_K"], kinds=kinds,
                             between=db.session.commit)
    db.session.commit()
    for item in made:
        click.echo(f"released {item.period} {item.period_key}: {item.cells} cells, "
                   f"{item.hidden_cells} hidden, {item.seconds:.2f} s")
    if not made:
        click.echo("nothing to release: every finished period has its release")
