"""POST /sync: a batch of items made offline."""

from marshmallow import fields, validate

from referral.schemas.common import StrictSchema, code


class SyncItemIn(StrictSchema):
    client_uuid = fields.UUID(required=True)
    kind = code(("case", "referral"), required=True)
    payload = fields.Dict(required=True)


class SyncIn(StrictSchema):
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    # Items are checked one by one by the service (a bad item must not stop the others);
    # the count limit answers 413 (API.md).
    items = fields.List(fields.Raw(), required=True)


class SyncErrorOut(StrictSchema):
    code = fields.String()
    message = fields.String()
    field_errors = fields.Dict(data_key="fields", attribute="fields")


class SyncResultOut(StrictSchema):
    client_uuid = fields.String()
    status = fields.String()
    id = fields.String(allow_none=True)
    error = fields.Nested(SyncErrorOut, allow_none=True)


class SyncOut(StrictSchema):
    results = fields.List(fields.Nested(SyncResultOut))
