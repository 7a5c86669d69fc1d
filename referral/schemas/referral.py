"""Referrals: ReferralIn, the lifecycle bodies, ReferralOut, list arguments."""

from marshmallow import fields, validate

from referral.models.codes import (
    DECLINE_REASONS,
    REFERRAL_OUTCOMES,
    REFERRAL_STATUSES,
    SERVICES,
    SHARE_LEVELS,
    URGENCIES,
)
from referral.schemas.common import PageArgs, Pseudonym, StrictSchema, UTCDateTime, code, codes
from referral.services import pseudonyms

NOTE = validate.Length(max=2000)


class ReferralIn(StrictSchema):
    client_uuid = fields.UUID(allow_none=True)
    case_id = fields.UUID(required=True)
    to_facility_id = fields.UUID(required=True)
    services = codes(SERVICES, required=True,
                     validate=validate.Length(min=1, max=len(SERVICES)))
    urgency = code(URGENCIES, allow_none=True)
    reason = fields.String(allow_none=True, validate=NOTE)
    share = code(SHARE_LEVELS, load_default="minimum")


class OfflineReferralIn(ReferralIn):
    """A referral made on a tablet offline: the case is named by its client_uuid."""

    case_id = fields.UUID(load_default=None, dump_default=None)
    case_client_uuid = fields.UUID(required=True)


class DeclineIn(StrictSchema):
    empty_body_ok = True
    reason_code = code(DECLINE_REASONS, load_default="other")
    reason = fields.String(allow_none=True, validate=NOTE)


class CompleteIn(StrictSchema):
    outcome = code(REFERRAL_OUTCOMES, required=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=5000))


class CancelIn(StrictSchema):
    empty_body_ok = True
    reason = fields.String(allow_none=True, validate=NOTE)


class ReferralArgs(PageArgs):
    direction = code(("incoming", "outgoing"))
    status = code(REFERRAL_STATUSES)


class SlipCode(fields.String):
    """`R-XXXX-XXXX` on the way out."""

    def _serialize(self, value, attr, obj, **kwargs):
        return pseudonyms.display_slip_code(value) if value else None


class ReferralOut(StrictSchema):
    id = fields.UUID()
    code = SlipCode()
    case_id = fields.UUID()
    pseudonym = Pseudonym(allow_none=True)
    from_facility_id = fields.UUID()
    to_facility_id = fields.UUID()
    services = fields.List(fields.String())
    urgency = fields.String()
    reason = fields.String(allow_none=True)
    share = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    status_note = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    completion_notes = fields.String(allow_none=True)
    created_at = UTCDateTime()
    responded_at = UTCDateTime(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    closed_at = UTCDateTime(allow_none=True)
    expires_at = UTCDateTime()
