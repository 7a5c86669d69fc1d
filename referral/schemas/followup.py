"""Follow-ups: FollowUpIn (manual), FollowUpCompleteIn, FollowUpCancelIn, FollowUpArgs,
FollowUpOut."""

from marshmallow import fields, validate

from referral.models.codes import FOLLOW_UP_KINDS, FOLLOW_UP_OUTCOMES, FOLLOW_UP_STATUSES
from referral.schemas.common import PageArgs, Pseudonym, StrictSchema, UTCDateTime, code, page_of

NOTES = validate.Length(max=5000)


class FollowUpIn(StrictSchema):
    kind = code(FOLLOW_UP_KINDS, required=True)
    due_at = UTCDateTime(required=True, metadata={
        "description": "With a time zone; at most a day in the past, two years ahead."})
    notes = fields.String(allow_none=True, validate=NOTES)


class FollowUpCompleteIn(StrictSchema):
    outcome = code(FOLLOW_UP_OUTCOMES, required=True, metadata={
        "description": "`missed` leaves the follow-up `missed`, any other `done`."})
    notes = fields.String(allow_none=True, validate=NOTES, metadata={
        "description": "Added to the follow-up's notes."})


class FollowUpCancelIn(StrictSchema):
    empty_body_ok = True
    reason = fields.String(allow_none=True, validate=NOTES, metadata={
        "description": "Kept only in the follow-up's encrypted notes."})


class FollowUpArgs(PageArgs):
    status = code(FOLLOW_UP_STATUSES, metadata={
        "description": "Without it, the open ones (scheduled and overdue)."})
    due_before = UTCDateTime()


class FollowUpOut(StrictSchema):
    id = fields.UUID()
    case_id = fields.UUID()
    pseudonym = Pseudonym(attribute="case.subject.pseudonym", allow_none=True)
    referral_id = fields.UUID(allow_none=True)
    kind = fields.String()
    due_at = UTCDateTime()
    status = fields.String()
    assigned_facility_id = fields.UUID()
    outcome = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    created_at = UTCDateTime()


FollowUpPage = page_of(FollowUpOut, "FollowUpPage")
