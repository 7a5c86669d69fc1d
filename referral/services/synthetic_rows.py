"""The rows `flask synthetic` writes: one tuple shape per table, ids and sealed fields.

Each shape names the columns a synthetic row fills, in the order the writer sends them;
the others stay NULL, as the services leave them for a record no user touched. Personal
fields are sealed with crypto.seal exactly as models.encrypted seals them (the subject's
data key; associated data `table.column.row`), so the app opens them like any other.
"""

import json
import random
import uuid
from collections import namedtuple
from datetime import date, datetime

from sqlalchemy import Table

from referral.models import (
    Case,
    CaseNeed,
    CaseVulnerability,
    Consent,
    DataKey,
    FollowUp,
    Referral,
    ReferralService,
    Subject,
)
from referral.models.encrypted import encrypted_fields
from referral.services import crypto

IDENTITY = ("given_name", "family_name", "birth_date", "birth_year", "age_estimate", "phone")


def _shape(model, columns: str):
    """A namedtuple of these columns of the model's table (checked against the table)."""
    names = columns.split()
    unknown = [name for name in names if name not in model.__table__.c]
    if unknown:
        raise LookupError(f"{model.__tablename__} has no column {', '.join(unknown)}")
    return namedtuple(f"{model.__name__}Row", names)


SubjectRow = _shape(Subject, "id created_at pseudonym " + " ".join(IDENTITY)
                    + " sex nationality languages match_key created_facility_id")
DataKeyRow = _shape(DataKey, "subject_id kek_id wrapped created_at")
ConsentRow = _shape(Consent, "id created_at subject_id data_collection referral_sharing "
                             "follow_up_contact method given_by")
CaseRow = _shape(Case, "id created_at subject_id facility_id consent_id status urgency "
                       "travel_direction sex nationality age_band notes captured_at "
                       "updated_at closed_at")
CaseNeedRow = _shape(CaseNeed, "case_id code")
CaseVulnerabilityRow = _shape(CaseVulnerability, "case_id code")
ReferralRow = _shape(Referral, "id created_at code case_id from_facility_id to_facility_id "
                               "urgency share status status_reason outcome reason status_note "
                               "completion_notes expires_at responded_at completed_at closed_at")
ReferralServiceRow = _shape(ReferralService, "referral_id code")
FollowUpRow = _shape(FollowUp, "id created_at case_id referral_id assigned_facility_id kind "
                               "status due_at outcome notes overdue_at completed_at "
                               "cancelled_at")

# In foreign-key order: a table's rows go in after those they point to.
SHAPES = {model.__table__: shape for model, shape in (
    (Subject, SubjectRow), (DataKey, DataKeyRow), (Consent, ConsentRow), (Case, CaseRow),
    (CaseNeed, CaseNeedRow), (CaseVulnerability, CaseVulnerabilityRow),
    (Referral, ReferralRow), (ReferralService, ReferralServiceRow), (FollowUp, FollowUpRow))}
TABLES: tuple[Table, ...] = tuple(SHAPES)
SUBJECTS, CASES, REFERRALS = Subject.__table__, Case.__table__, Referral.__table__


def _aad_prefix(model, name: str) -> str:
    """`table.column.` exactly as EncryptedField binds a ciphertext to its place."""
    column = encrypted_fields(model)[name].storage_attr.lstrip("_")
    return f"{model.__tablename__}.{column}."


AAD = {(model, name): _aad_prefix(model, name) for model, names in (
    (Subject, IDENTITY), (Case, ("notes",)), (FollowUp, ("notes",)),
    (Referral, ("reason", "status_note", "completion_notes"))) for name in names}


def seal(dek: bytes, model, name: str, row_id: str, value):
    """A field sealed as EncryptedField.seal would (JSON, then AES-GCM bound to its place)."""
    if value is None:
        return None
    if type(value) is int:
        encoded = str(value)  # what json.dumps gives an int, without building an encoder
    else:
        encoded = json.dumps(value.isoformat() if isinstance(value, date) else value)
    return crypto.seal(dek, encoded.encode(), (AAD[model, name] + row_id).encode())


def ordered_id(rng: random.Random, at: datetime) -> uuid.UUID:
    """A UUIDv7 (time first, then 74 seeded random bits): rows reach the primary key
    indexes in order, which makes a bulk load several times faster than random ids."""
    rand = rng.getrandbits(74)
    return uuid.UUID(int=(int(at.timestamp() * 1000) << 80 | 7 << 76 | (rand >> 62) << 64
                          | 2 << 62 | rand & (1 << 62) - 1))


class Rows:
    """The rows of the cases drawn since the last `take`, by shape."""

    def __init__(self):
        self.cases = 0
        self.by_shape: dict[type, list] = {shape: [] for shape in SHAPES.values()}

    def add(self, row) -> None:
        self.by_shape[type(row)].append(row)

    def of(self, table: Table) -> list:
        return self.by_shape[SHAPES[table]]

    def take(self) -> "Rows":
        """What was drawn so far, leaving this empty for the next batch."""
        taken = Rows()
        taken.cases, taken.by_shape, self.cases, self.by_shape = (
            self.cases, self.by_shape, 0, taken.by_shape)
        return taken
