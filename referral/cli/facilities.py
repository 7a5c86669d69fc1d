"""`flask facilities import FILE`."""

import json
import os

import click
from flask.cli import AppGroup

from referral.cli import fail
from referral.errors import Invalid
from referral.extensions import db
from referral.models.codes import FACILITY_KINDS
from referral.schemas.common import now
from referral.services import directory, hsds

group = AppGroup("facilities", help="Keep the service directory.")


def _sort_key(field: str):
    index, _, name = field.partition(".")
    return (int(index), name) if index.isdigit() else (-1, field)


def _at_index(index: str) -> str:
    return f"invalid facility at index {index}"


def describe(error: Invalid, item=_at_index) -> str:
    """One line naming the first bad item and field, and how many more problems there are.

    `item` names the bad item from its index in the array (HSDS input: its location id)."""
    fields = error.fields or {}
    if not fields:
        return error.message
    first = min(fields, key=_sort_key)
    index, _, name = first.partition(".")
    message = " ".join(fields[first])
    if not index.isdigit():
        line = f"{error.message}: {message}"
    elif name:
        line = f"{item(index)}, field {name}: {message}"
    else:
        line = f"{item(index)}: {message}"
    more = len(fields) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _save(items, describe_error) -> dict:
    try:
        counts = directory.import_facilities(db.session, items, None, now())
    except Invalid as exc:
        db.session.rollback()
        fail(describe_error(exc))
    db.session.commit()
    return counts


def _echo_counts(counts: dict) -> None:
    click.echo("created {created}, updated {updated}, unchanged {unchanged}".format(**counts))


@group.command("import")
@click.argument("path", metavar="FILE")
@click.option("--kind", type=click.Choice(FACILITY_KINDS),
              help="HSDS input only: the kind of every facility imported, instead of the "
                   "kind guessed from its services and name.")
def import_facilities(path, kind):
    """Create or update facilities from a JSON array of API facility objects, or from an
    Open Referral HSDS export (HSDS JSON, or a tabular data package: a folder or a .zip).

    Facilities are matched by `code`: an existing code is updated, never duplicated, and
    fields an object leaves out keep their value. Every object is checked before anything
    is written; the first problem is reported by its index in the array (from 0), or, for
    HSDS, by its HSDS location id. HSDS locations become facilities coded HSDS-<location id>;
    the mapping is described in referral/services/hsds.py.
    """
    dataset = None
    try:
        if os.path.isdir(path) or hsds.is_zip(path):
            dataset = hsds.read_package(path)
        else:
            with open(path, encoding="utf-8") as handle:
                items = json.load(handle)
            if hsds.looks_like_hsds(items):
                dataset = hsds.from_json(items)
    except OSError as exc:
        fail(f"cannot read {exc.filename or path}: {exc.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not JSON: {exc}")
    except hsds.HSDSError as exc:
        fail(str(exc))
    if dataset is None:
        if kind:
            fail("--kind applies to HSDS input only; in a JSON array of API facility objects "
                 "each object gives its own kind")
        _echo_counts(_save(items, describe))
        return
    try:
        converted = hsds.to_facilities(dataset, kind)
    except hsds.HSDSError as exc:
        fail(str(exc))
    locations = converted.location_ids
    _echo_counts(_save(converted.facilities, lambda exc: describe(exc, lambda index: (
        f"invalid facility from HSDS location {locations[int(index)]}"))))
    summary = hsds.skipped_summary(converted.skipped)
    if summary:
        click.echo(summary)
