"""A referral: one case sent from one facility to another, with its lifecycle.

Every transition has its own timestamp, so statistics can tell a referral's status as of
any moment (responded_at for accept or decline, closed_at for any final state).
The reason, the status note and the receiver's completion notes are free text, so they
are encrypted with the subject's key, and erasure covers them.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.case import Case
from referral.models.codes import (
    DECLINE_REASONS,
    REFERRAL_OUTCOMES,
    REFERRAL_STATUSES,
    SERVICES,
    SHARE_LEVELS,
    URGENCIES,
    CodeList,
)
from referral.models.encrypted import EncryptedField, encrypted_column

STATUS_REASONS = (*DECLINE_REASONS, "cancelled_by_sender", "not_answered_in_time")


class ReferralService(Base):
    __tablename__ = "referral_services"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(choice("service", SERVICES), primary_key=True, index=True)


class Referral(IdMixin, CreatedMixin, Base):
    __tablename__ = "referrals"

    # Slip code, stored without "R-" and dashes: 7 random characters and a check character.
    code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    from_facility_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("facilities.id"))
    to_facility_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("facilities.id"))
    urgency: Mapped[str] = mapped_column(choice("urgency", URGENCIES))
    share: Mapped[str] = mapped_column(choice("share_level", SHARE_LEVELS), default="minimum")
    status: Mapped[str] = mapped_column(choice("referral_status", REFERRAL_STATUSES),
                                        default="pending")
    status_reason: Mapped[str | None] = mapped_column(
        choice("referral_status_reason", STATUS_REASONS))
    outcome: Mapped[str | None] = mapped_column(choice("referral_outcome", REFERRAL_OUTCOMES))
    _reason: Mapped[bytes | None] = encrypted_column("reason")
    _status_note: Mapped[bytes | None] = encrypted_column("status_note")
    _completion_notes: Mapped[bytes | None] = encrypted_column("completion_notes")
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    responded_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Offline referrals from tablets: idempotent on the tablet's id, as intake is.
    client_uuid: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, unique=True)
    request_digest: Mapped[str | None] = mapped_column(sa.String(64))

    case: Mapped[Case] = relationship(lazy="joined")
    service_rows: Mapped[list[ReferralService]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    reason = EncryptedField("_reason")
    status_note = EncryptedField("_status_note")
    completion_notes = EncryptedField("_completion_notes")
    services = CodeList("service_rows", lambda code: ReferralService(code=code))

    __table_args__ = (
        sa.Index("ix_referrals_to_facility_id_status", "to_facility_id", "status"),
        sa.Index("ix_referrals_from_facility_id_status", "from_facility_id", "status"),
        sa.Index("ix_referrals_status_expires_at", "status", "expires_at"),
        sa.Index("ix_referrals_created_at", "created_at"),  # statistics, by arrival
    )

    @property
    def pseudonym(self) -> str:
        return self.case.subject.pseudonym

    def data_key_bytes(self, create: bool = False) -> bytes | None:
        return self.case.data_key_bytes(create=create)
