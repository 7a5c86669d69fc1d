"""Login and the user object of API.md."""

from marshmallow import fields

from referral.schemas.common import StrictSchema, UTCDateTime


class LoginIn(StrictSchema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class UserOut(StrictSchema):
    id = fields.UUID()
    username = fields.String()
    role = fields.String()
    facility_id = fields.UUID(allow_none=True)


class TokenOut(StrictSchema):
    token = fields.String()
    expires_at = UTCDateTime()
    user = fields.Nested(UserOut)
