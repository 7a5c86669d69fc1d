"""`flask stats release [--period P]`, `flask stats rerelease --period P KEY...` and
`flask stats export ...` (API.md)."""

import json
import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from referral.cli import fail
from referral.errors import DomainError, flatten_messages
from referral.extensions import db
from referral.schemas.stats import StatsArgs, StatsOut
from referral.services import exports, periods, reports, stats

group = AppGroup("stats", help="Statistics releases.")


@group.command("release")
@click.option("--period", "kind", type=click.Choice(periods.KINDS),
              help="Only this kind of period (default: all of them).")
def release(kind):
    """Release every finished period that has no release yet (idempotent)."""
    kinds = (kind,) if kind else stats.ORDER
    k = current_app.config["SUPPRESSION_K"]
    refused = []
    made = stats.release_all(db.session, now=datetime.now(UTC), k=k, kinds=kinds,
                             between=db.session.commit, refused=refused)
    db.session.commit()
    _echo_released(made)
    if not made and not refused:
        click.echo("nothing to release: every finished period has its release")
    other = stats.made_with_another_k(db.session, k)
    if other:
        served = ", ".join(f"{kind} {key}" for kind, key in other[:6])
        more = f" and {len(other) - 6} more" if len(other) > 6 else ""
        click.echo(f"{len(other)} released periods were protected with another k than {k} "
                   f"({served}{more}); `flask --app referral stats rerelease` applies k={k} "
                   "to them", err=True)
    if refused:  # what could be released was, and stays; then exit non-zero
        more = f" (and {len(refused) - 1} more refused)" if len(refused) > 1 else ""
        fail(refused[0][1] + more)


@group.command("rerelease")
@click.option("--period", "kind", required=True, type=click.Choice(periods.KINDS),
              help="The kind of period.")
@click.argument("keys", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def rerelease(kind, keys, yes):
    """Withdraw the releases of these periods, and of every period they touch, and release
    them again with the current k (audited). KEYS: 2026-W43, 2026-10, 2026-Q4 or 2026."""
    try:
        targets = [periods.from_key(kind, key) for key in dict.fromkeys(keys)]
    except ValueError as exc:
        fail(f"KEYS: {exc}")
    if not yes:
        click.confirm("Managers will read new numbers for these periods, and for the weeks, "
                      "months, quarters and years around them; what they read before stays "
                      "known to them. Go on?", abort=True)
    try:
        # On SQLite, waits its turn while a releaser holds the database (`stats.in_turn`).
        withdrawn, made = stats.in_turn(db.session, lambda: stats.rerelease(
            db.session, targets, now=datetime.now(UTC),
            k=current_app.config["SUPPRESSION_K"]), db.session.commit)
    except (ValueError, LookupError, stats.ReleaseMismatch) as exc:
        db.session.rollback()
        fail(str(exc))
    stats.analyze(db.session)  # commits
    for period, key, k in withdrawn:
        if period != periods.PART:
            click.echo(f"withdrew {period} {key} (k={k})")
    _echo_released(item for item in made if item.period != periods.PART)


def _echo_released(made) -> None:
    for item in made:
        click.echo(f"released {item.period} {item.period_key}: {item.cells} cells, "
                   f"{item.hidden_cells} hidden, {item.seconds:.2f} s")


@group.command("export")
@click.option("--metric", default="cases", show_default=True, help="cases or referrals.")
@click.option("--period", "kind", default="month", show_default=True,
              help="week, month, quarter or year.")
@click.option("--group-by", default="", help="Up to 3 dimensions, comma separated.")
@click.option("--from", "first", default=None, help="A date, YYYY-MM or a period key.")
@click.option("--to", "last", default=None, help="A date, YYYY-MM or a period key.")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv, json or xlsx.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write here (default: standard output).")
def export(metric, kind, group_by, first, last, fmt, out):
    """One published table, as GET /stats gives it; audited like a request."""
    raw = {"metric": metric, "period": kind, "group_by": group_by, "format": fmt,
           **({"from": first} if first else {}), **({"to": last} if last else {})}
    try:
        query = StatsArgs().load(raw)
    except ValidationError as exc:
        field, messages = next(iter(flatten_messages(exc.messages).items()))
        fail(f"--{field.replace('_', '-')}: {' '.join(messages)}")
    try:
        result = reports.answer(db.session, query, user=None, now=datetime.now(UTC),
                                k=current_app.config["SUPPRESSION_K"],
                                between=db.session.commit)
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    db.session.commit()
    if fmt == "json":
        body = json.dumps(StatsOut().dump(result), ensure_ascii=False, indent=1) + "\n"
    else:
        body = exports.to_csv(result) if fmt == "csv" else exports.to_xlsx(result)
    if out:
        with open(out, "wb") as handle:
            handle.write(body if isinstance(body, bytes) else body.encode())
        click.echo(f"wrote {len(result['rows'])} rows to {out}", err=True)
    elif isinstance(body, bytes):
        if sys.stdout.isatty():
            fail("--format xlsx: give --out FILE (it is not text)")
        sys.stdout.buffer.write(body)
    else:
        click.echo(body, nl=False)
