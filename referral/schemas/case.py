"""Cases and subjects: CaseIn (intake), CaseUpdate, CaseOut, SubjectOut, match."""

import re
from datetime import UTC, date, datetime, timedelta

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from referral.models.codes import (
    CASE_STATUSES,
    CONSENT_GIVERS,
    CONSENT_METHODS,
    NEEDS,
    SEXES,
    TRAVEL_DIRECTIONS,
    URGENCIES,
    VULNERABILITIES,
)
from referral.schemas.common import (
    Country,
    Language,
    PageArgs,
    Pseudonym,
    StrictSchema,
    UTCDateTime,
    code,
    codes,
)

PHONE = re.compile(r"^\+?[0-9 ()\-.]{4,30}$")
IDENTITY_FIELDS = ("given_name", "family_name", "birth_date", "birth_year", "age_estimate",
                   "sex", "nationality", "languages", "phone")


def name_field():
    return fields.String(allow_none=True, validate=validate.Length(max=100))


class IdentityIn(StrictSchema):
    """Identifying fields of a new subject; every one optional (an alias is fine)."""

    given_name = name_field()
    family_name = name_field()
    birth_date = fields.Date(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    age_estimate = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=120))
    sex = code(SEXES, load_default="unknown")
    nationality = Country(allow_none=True)
    languages = fields.List(Language(), load_default=list, validate=validate.Length(max=10))
    phone = fields.String(allow_none=True, validate=validate.Regexp(
        PHONE, error="Not a phone number."))

    @validates("birth_date")
    def _birth_date(self, value, **kwargs):
        if value is not None and not date(1900, 1, 1) <= value <= datetime.now(UTC).date():
            raise ValidationError("Must be between 1900-01-01 and today.")

    @validates("birth_year")
    def _birth_year(self, value, **kwargs):
        if value is not None and not 1900 <= value <= datetime.now(UTC).year:
            raise ValidationError("Must be between 1900 and this year.")

    @validates_schema
    def _one_age(self, data, **kwargs):
        given = [name for name in ("birth_date", "birth_year", "age_estimate")
                 if data.get(name) is not None]
        if len(given) > 1:
            raise ValidationError("Give one of birth_date, birth_year or age_estimate.",
                                  given[-1])


class SubjectIn(IdentityIn):
    """Either an existing person's pseudonym, or the identifying fields of a new one."""

    pseudonym = Pseudonym()

    @validates_schema
    def _pseudonym_alone(self, data, **kwargs):
        if "pseudonym" in data:
            extra = [name for name in IDENTITY_FIELDS
                     if name in data and name not in ("sex", "languages")]
            if extra or data.get("sex", "unknown") != "unknown" or data.get("languages"):
                raise ValidationError(
                    "Give either a pseudonym or identifying fields, not both.", "pseudonym")


class ConsentIn(StrictSchema):
    data_collection = fields.Boolean(required=True)
    referral_sharing = fields.Boolean(load_default=False)
    follow_up_contact = fields.Boolean(load_default=False)
    method = code(CONSENT_METHODS, load_default="verbal")
    given_by = code(CONSENT_GIVERS, load_default="self")

    @validates("data_collection")
    def _must_consent(self, value, **kwargs):
        if value is not True:
            raise ValidationError("No record without consent to collect data.")


class CaseIn(StrictSchema):
    client_uuid = fields.UUID(allow_none=True)
    captured_at = UTCDateTime(allow_none=True)
    subject = fields.Nested(SubjectIn, required=True)
    consent = fields.Nested(ConsentIn, required=True)
    needs = codes(NEEDS, load_default=list, validate=validate.Length(max=len(NEEDS)))
    urgency = code(URGENCIES, load_default="routine")
    vulnerabilities = codes(VULNERABILITIES, load_default=list)
    travel_direction = code(TRAVEL_DIRECTIONS, load_default="unknown")
    notes = fields.String(allow_none=True, validate=validate.Length(max=5000))

    @validates("captured_at")
    def _not_in_future(self, value, **kwargs):
        if value is not None and value > datetime.now(UTC) + timedelta(minutes=10):
            raise ValidationError("Must not be in the future.")


class CaseUpdate(StrictSchema):
    needs = codes(NEEDS)
    urgency = code(URGENCIES)
    vulnerabilities = codes(VULNERABILITIES)
    notes = fields.String(allow_none=True, validate=validate.Length(max=5000))
    status = code(CASE_STATUSES)


class CaseArgs(PageArgs):
    status = code(CASE_STATUSES)
    urgency = code(URGENCIES)
    pseudonym = Pseudonym()


class SubjectOut(StrictSchema):
    pseudonym = Pseudonym()
    given_name = fields.String(allow_none=True)
    family_name = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    age_estimate = fields.Integer(allow_none=True)
    sex = fields.String()
    nationality = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    phone = fields.String(allow_none=True)


class ConsentOut(StrictSchema):
    data_collection = fields.Boolean()
    referral_sharing = fields.Boolean()
    follow_up_contact = fields.Boolean()
    method = fields.String()
    given_by = fields.String()
    withdrawn_at = UTCDateTime(allow_none=True)


class CaseOut(StrictSchema):
    id = fields.UUID()
    subject = fields.Nested(SubjectOut)
    facility_id = fields.UUID()
    status = fields.String()
    needs = fields.List(fields.String())
    urgency = fields.String()
    vulnerabilities = fields.List(fields.String())
    travel_direction = fields.String()
    age_band = fields.String()
    notes = fields.String(allow_none=True)
    consent = fields.Nested(ConsentOut)
    possible_duplicates = fields.List(Pseudonym())
    created_at = UTCDateTime()
    created_by = fields.UUID(allow_none=True)
    captured_at = UTCDateTime(allow_none=True)


class SubjectWithCasesOut(SubjectOut):
    cases = fields.List(fields.Nested(CaseOut))
    possible_duplicates = fields.List(Pseudonym())


class MatchIn(IdentityIn):
    pass


class MatchOut(StrictSchema):
    matches = fields.List(Pseudonym())
