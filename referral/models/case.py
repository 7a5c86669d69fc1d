"""A case: one intake of one subject at one facility.

The coarse attributes statistics need (facility, received time, sex, nationality, age
band, needs, urgency, vulnerabilities, travel direction) are plain columns copied at
intake, so aggregates run in SQL and survive erasure. Notes are encrypted.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.codes import (
    AGE_BANDS,
    CASE_STATUSES,
    NEEDS,
    SEXES,
    TRAVEL_DIRECTIONS,
    URGENCIES,
    VULNERABILITIES,
    CodeList,
)
from referral.models.encrypted import EncryptedField, encrypted_column
from referral.models.subject import Consent, Subject


class CaseNeed(Base):
    __tablename__ = "case_needs"

    case_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(choice("need", NEEDS), primary_key=True, index=True)


class CaseVulnerability(Base):
    __tablename__ = "case_vulnerabilities"

    case_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(
        choice("vulnerability", VULNERABILITIES), primary_key=True, index=True
    )


class Case(IdMixin, CreatedMixin, Base):
    __tablename__ = "cases"

    subject_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("facilities.id"), index=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("consents.id"))
    status: Mapped[str] = mapped_column(choice("case_status", CASE_STATUSES), default="open")
    urgency: Mapped[str] = mapped_column(choice("urgency", URGENCIES), default="routine")
    travel_direction: Mapped[str] = mapped_column(
        choice("travel_direction", TRAVEL_DIRECTIONS), default="unknown"
    )
    sex: Mapped[str] = mapped_column(choice("sex", SEXES), default="unknown")
    nationality: Mapped[str | None] = mapped_column(sa.String(2))
    age_band: Mapped[str] = mapped_column(choice("age_band", AGE_BANDS), default="unknown")
    _notes: Mapped[bytes | None] = encrypted_column("notes")
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Idempotency of tablet submissions: the tablet's id and a keyed digest of the body.
    client_uuid: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, unique=True)
    request_digest: Mapped[str | None] = mapped_column(sa.String(64))

    subject: Mapped[Subject] = relationship(lazy="joined")
    consent: Mapped[Consent] = relationship(lazy="joined")
    need_rows: Mapped[list[CaseNeed]] = relationship(cascade="all, delete-orphan",
                                                     lazy="selectin")
    vulnerability_rows: Mapped[list[CaseVulnerability]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    notes = EncryptedField("_notes")
    needs = CodeList("need_rows", lambda code: CaseNeed(code=code))
    vulnerabilities = CodeList("vulnerability_rows", lambda code: CaseVulnerability(code=code))

    __table_args__ = (sa.Index("ix_cases_facility_id_created_at", "facility_id", "created_at"),
                      # statistics count records by when they reached the server
                      sa.Index("ix_cases_created_at", "created_at"))

    def data_key_bytes(self, create: bool = False) -> bytes | None:
        """Case fields are sealed with the subject's key, so erasure covers them too."""
        return self.subject.data_key_bytes(create=create)
