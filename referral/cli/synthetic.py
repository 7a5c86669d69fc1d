"""`flask synthetic --cases N [--months M] [--seed S]`: synthetic data for demos and benchmarks.

The output is counts only, never anything about the (fictional) people; the progress bar
goes to stderr. It ends by running `flask stats release`, as API.md says.
"""

import secrets
import sys
import time
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from referral.cli import fail
from referral.errors import DomainError
from referral.extensions import db
from referral.models.base import utcnow
from referral.models.codes import REFERRAL_STATUSES
from referral.services import crypto, synthetic


def _release_statistics() -> None:
    """The end of the command (API.md): `flask stats release`, as registered."""
    ctx = click.get_current_context()
    group = ctx.find_root().command.get_command(ctx, "stats")
    click.echo("stats release:")
    ctx.invoke(group.get_command(ctx, "release"))


def _summary_line(summary: synthetic.Summary, seed: int, seconds: float) -> str:
    months = summary.months
    states = ", ".join(f"{summary.referrals[state]} {state}" for state in REFERRAL_STATUSES)
    return (f"synthetic: {summary.cases} cases over {len(months)} months "
            f"({months[0]} to {months[-1]}, seed {seed}), {summary.subjects} subjects, "
            f"{sum(summary.referrals.values())} referrals ({states}), "
            f"{summary.follow_ups} follow-ups in {seconds:.1f} s")


def _now(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now: not an ISO 8601 date and time: {text!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@click.command("synthetic")
@click.option("--cases", "case_count", required=True, type=click.IntRange(min=1),
              help="How many cases to add.")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 240),
              help="Spread them over this many finished calendar months.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Same seed, same data (default: a random seed, printed at the end).")
@click.option("--batch-size", default=synthetic.BATCH_SIZE, show_default=True,
              type=click.IntRange(100, 100_000), help="Cases per committed batch.")
@click.option("--no-release", is_flag=True,
              help="Skip the final `stats release` (more data is coming, say).")
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="Pretend it is this moment (tests, replays); default: now.")
@with_appcontext
def command(case_count, months, seed, batch_size, no_release, now_text):
    """Add N synthetic cases, with referrals and follow-ups, to a database with a directory."""
    try:
        crypto.keyring()
    except crypto.KeyringError as exc:
        fail(f"refusing to add synthetic data: {exc}")
    now = _now(now_text)
    seed = secrets.randbits(32) if seed is None else seed
    try:
        directory = synthetic.Directory.load(db.session)
    except DomainError as exc:
        fail(f"refusing to add synthetic data: {exc.message}")
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        fail(f"cannot read the directory ({type(exc).__name__}); "
             "is the schema in place (`flask db upgrade`)?")
    started = time.perf_counter()
    try:
        with click.progressbar(length=case_count, label="synthetic cases",
                               file=sys.stderr) as bar:
            summary = synthetic.add(db.session, cases=case_count, months=months, seed=seed,
                                    now=now, directory=directory, batch_size=batch_size,
                                    between_batches=db.session.commit, progress=bar.update)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    except (Exception, KeyboardInterrupt) as exc:
        db.session.rollback()
        # Only the class name: a driver message could quote the parameters it was sent.
        fail(f"synthetic data stopped ({type(exc).__name__}); the batches committed "
             "before it stay in the database")
    click.echo(_summary_line(summary, seed, time.perf_counter() - started))
    if not no_release:
        _release_statistics()
