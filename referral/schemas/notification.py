"""Notifications: NotificationArgs, NotificationOut (with the next options), NotificationPage."""

from marshmallow import Schema, fields

from referral.schemas.common import PageArgs, StrictSchema, UTCDateTime
from referral.schemas.routing import OptionOut


class NotificationArgs(PageArgs):
    unread = fields.Boolean(metadata={"description": "true: only the unread ones."})


class NotificationOut(StrictSchema):
    id = fields.UUID()
    kind = fields.String()
    case_id = fields.UUID(allow_none=True)
    referral_id = fields.UUID(allow_none=True)
    follow_up_id = fields.UUID(allow_none=True)
    created_at = UTCDateTime()
    read_at = UTCDateTime(allow_none=True)
    options = fields.List(fields.Nested(OptionOut), allow_none=True, metadata={
        "description": "For referral_declined and referral_expired: the next ranked "
                       "facilities for the case (those already tried left out); else null."})


class NotificationPage(Schema):
    items = fields.List(fields.Nested(NotificationOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    unread = fields.Integer(metadata={"description": "Unread notifications of the facility."})
