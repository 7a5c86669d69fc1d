"""Audit events and the chain check of API.md (admins)."""

from marshmallow import Schema, fields, validate

from referral.schemas.common import PageArgs, UTCDateTime, page_of


class AuditArgs(PageArgs):
    object_id = fields.String(validate=validate.Length(min=1, max=64))
    actor = fields.String(validate=validate.Length(min=1, max=80),
                          metadata={"description": "A username or a user id."})
    action = fields.String(validate=validate.Length(min=1, max=40))


class AuditEventOut(Schema):
    id = fields.UUID()
    seq = fields.Integer()
    at = UTCDateTime()
    actor = fields.String(allow_none=True, metadata={"description": "The username."})
    actor_id = fields.UUID(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True, metadata={"description": "Names and counts only."})
    prev_hash = fields.String()
    hash = fields.String()


AuditPage = page_of(AuditEventOut, "AuditPage")


class VerifyOut(Schema):
    ok = fields.Boolean()
    events = fields.Integer(metadata={"description": "Events found good, in order."})
    first_bad_event = fields.UUID(
        allow_none=True,
        metadata={"description": "The first event whose link or content is wrong; null "
                                 "when the newest events are missing (see first_bad_seq)."})
    first_bad_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
