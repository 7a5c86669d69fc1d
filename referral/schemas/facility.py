"""Facilities: FacilityIn, FacilityUpdate, CapacityIn, FacilityArgs, FacilityOut."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, post_dump, post_load, validate

from referral.models.codes import FACILITY_KINDS, SERVICES
from referral.schemas.common import Country, Language, PageArgs, StrictSchema, UTCDateTime, page_of
from referral.schemas.common import code as one_of
from referral.schemas.common import codes as many_of

CODE = re.compile(r"^[A-Z0-9]+(?:[-_.][A-Z0-9]+)*$")
# Street-level data of a confidential facility: only admins and its own staff see it.
LOCATION_FIELDS = ("latitude", "longitude", "address")


class TimeZone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                "Not an IANA time zone (for example America/El_Salvador).") from None
        return text


def _text(max_length: int, **kwargs):
    """Free text, stripped; blank optional text is stored as null."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def _name(**kwargs):
    return fields.String(validate=[
        validate.Length(max=200), validate.Regexp(r"\s*\S", error="Must not be blank."),
    ], **kwargs)


def _facility_code(**kwargs):
    return fields.String(validate=[
        validate.Length(max=64),
        validate.Regexp(CODE, error="Upper-case letters and digits joined by '-', '_' or '.' "
                                    "(for example BP-SV-EL-AMATILLO)."),
    ], **kwargs)


def _count(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


class AcceptsIn(StrictSchema):
    minors = fields.Boolean()
    women_only = fields.Boolean()
    trafficking_survivors = fields.Boolean()


class FacilityUpdate(StrictSchema):
    """Any subset of a facility's fields (PATCH); absent fields are left as they are."""

    code = _facility_code()
    name = _name()
    kind = one_of(FACILITY_KINDS)
    country = Country()
    admin_area = _text(120, allow_none=True)
    address = _text(300, allow_none=True)
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))
    timezone = TimeZone(allow_none=True)
    services = many_of(SERVICES)
    languages = fields.List(Language(), validate=validate.Length(max=20))
    capacity_total = _count(allow_none=True)
    capacity_available = _count(allow_none=True)
    accepts = fields.Nested(AcceptsIn)
    confidential = fields.Boolean()
    active = fields.Boolean()

    @post_load
    def _tidy(self, data, **kwargs):
        for name in ("name", "admin_area", "address"):
            if isinstance(data.get(name), str):
                data[name] = data[name].strip() or None
        if "services" in data:
            data["services"] = sorted(set(data["services"]))
        if "languages" in data:
            data["languages"] = list(dict.fromkeys(data["languages"]))
        return data


class FacilityIn(FacilityUpdate):
    """A new facility (POST, and each item of `flask facilities import`)."""

    code = _facility_code(required=True)
    name = _name(required=True)
    kind = one_of(FACILITY_KINDS, required=True)
    country = Country(required=True)


class CapacityIn(StrictSchema):
    capacity_available = _count(required=True)


class FacilityArgs(PageArgs):
    kind = one_of(FACILITY_KINDS)
    country = Country()
    service = one_of(SERVICES)
    active = fields.Boolean()


class AcceptsOut(StrictSchema):
    minors = fields.Boolean()
    women_only = fields.Boolean()
    trafficking_survivors = fields.Boolean()


class FacilityOut(StrictSchema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    country = fields.String()
    admin_area = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    timezone = fields.String(allow_none=True)
    services = fields.List(fields.String())
    languages = fields.List(fields.String())
    capacity_total = fields.Integer(allow_none=True)
    capacity_available = fields.Integer(allow_none=True)
    capacity_updated_at = UTCDateTime(allow_none=True)
    accepts = fields.Nested(AcceptsOut)
    confidential = fields.Boolean()
    active = fields.Boolean()

    @post_dump(pass_original=True)
    def _hide_location(self, data, original, **kwargs):
        # Fail closed: a facility not passed through directory.seen_by never shows where a
        # confidential facility is, whoever asked.
        if data.get("confidential") and not getattr(original, "location_visible", False):
            for name in LOCATION_FIELDS:
                data[name] = None
        return data


FacilityPage = page_of(FacilityOut, "FacilityPage")
