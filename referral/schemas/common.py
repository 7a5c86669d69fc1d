"""Fields and schemas shared by every resource."""

import re
from datetime import UTC, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from referral.services import pseudonyms


class StrictSchema(Schema):
    """Unknown fields are an error: the API stays blind to what it must never store."""

    class Meta:
        unknown = RAISE


class UTCDateTime(fields.DateTime):
    """ISO 8601 in UTC with `Z` on the way out; any offset accepted on the way in."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise ValidationError("Must include a time zone (for example Z).")
        return result.astimezone(UTC)


class Pseudonym(fields.String):
    """A pseudonym: shown as XXXX-XXXX-X, read forgivingly (case, dashes, O/0, I/L/1)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return pseudonyms.display(value) if value else None

    def _deserialize(self, value, attr, data, **kwargs):
        code = pseudonyms.normalize(super()._deserialize(value, attr, data, **kwargs))
        if code is None:
            raise ValidationError("Not a valid pseudonym (XXXX-XXXX-X, check character).")
        return code


COUNTRY = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class Country(fields.String):
    """ISO 3166-1 alpha-2, upper-cased on the way in."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if not COUNTRY.match(text):
            raise ValidationError("Not an ISO 3166-1 alpha-2 country code (for example SV).")
        return text


class Language(fields.String):
    """ISO 639-1 or 639-3 code, lower-cased on the way in."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if not LANGUAGE.match(text):
            raise ValidationError("Not an ISO 639 language code (for example es, quc, ht).")
        return text


def code(values, **kwargs):
    return fields.String(validate=validate.OneOf(values), **kwargs)


def codes(values, **kwargs):
    return fields.List(code(values), **kwargs)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_of(item_schema, name: str):
    """The paginated envelope of API.md: items, page, per_page, total."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(),
        },
        name=name,
    )


def now() -> datetime:
    return datetime.now(UTC)
