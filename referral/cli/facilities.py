"""`flask facilities import FILE`."""

import json

import click
from flask.cli import AppGroup

from referral.cli import fail
from referral.errors import Invalid
from referral.extensions import db
from referral.schemas.common import now
from referral.services import directory

group = AppGroup("facilities", help="Keep the service directory.")


def _sort_key(field: str):
    index, _, name = field.partition(".")
    return (int(index), name) if index.isdigit() else (-1, field)


def describe(error: Invalid) -> str:
    """One line naming the first bad item and field, and how many more problems there are."""
    fields = error.fields or {}
    if not fields:
        return error.message
    first = min(fields, key=_sort_key)
    index, _, name = first.partition(".")
    message = " ".join(fields[first])
    if not index.isdigit():
        line = f"{error.message}: {message}"
    elif name:
        line = f"invalid facility at index {index}, field {name}: {message}"
    else:
        line = f"invalid facility at index {index}: {message}"
    more = len(fields) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


@group.command("import")
@click.argument("path", metavar="FILE")
def import_facilities(path):
    """Create or update facilities from a JSON array of API facility objects.

    Facilities are matched by `code`: an existing code is updated, never duplicated, and
    fields an object leaves out keep their value. Every object is checked before anything
    is written; the first problem is reported by its index in the array (from 0).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            items = json.load(handle)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not JSON: {exc}")
    try:
        counts = directory.import_facilities(db.session, items, None, now())
    except Invalid as exc:
        db.session.rollback()
        fail(describe(exc))
    db.session.commit()
    click.echo("created {created}, updated {updated}, unchanged {unchanged}".format(**counts))
