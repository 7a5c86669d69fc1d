"""Referral options: OptionArgs (the query string) and OptionOut (one ranked facility)."""

from marshmallow import Schema, ValidationError, fields, validate

from referral.models.codes import SERVICES
from referral.schemas.common import StrictSchema

MAX_OPTIONS = 50


class ServiceList(fields.List):
    """Services as `service=a,b` or `service=a&service=b`; errors are reported on the field
    itself (not per item) since the items are not positions the caller sent."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.OneOf(SERVICES)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise ValidationError("Not a valid list of service codes.")
        found = [part.strip() for item in items for part in item.split(",") if part.strip()]
        unknown = [code for code in dict.fromkeys(found) if code not in SERVICES]
        if unknown:
            raise ValidationError([f"Unknown service: {code}." for code in unknown])
        if not found:
            raise ValidationError("Name at least one service.")
        return list(dict.fromkeys(found))


class OptionArgs(Schema):
    service = ServiceList(required=True, metadata={
        "description": "One or more service codes, comma-separated (service=gbv_care,"
                       "mental_health) or repeated; the facility must offer every one."})
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_OPTIONS))


class OptionOut(StrictSchema):
    facility_id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    distance_km = fields.Float(allow_none=True, metadata={
        "description": "From the referring facility; null when unknown or confidential."})
    capacity_available = fields.Integer(allow_none=True)
    score = fields.Float()
    reasons = fields.List(fields.String())
