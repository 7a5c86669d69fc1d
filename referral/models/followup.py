"""Follow-ups: what a facility must check later so that no one falls through the cracks."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.case import Case
from referral.models.codes import FOLLOW_UP_KINDS, FOLLOW_UP_OUTCOMES, FOLLOW_UP_STATUSES
from referral.models.encrypted import EncryptedField, encrypted_column


class FollowUp(IdMixin, CreatedMixin, Base):
    __tablename__ = "follow_ups"

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    referral_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("referrals.id"),
                                                          index=True)
    assigned_facility_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("facilities.id"))
    kind: Mapped[str] = mapped_column(choice("follow_up_kind", FOLLOW_UP_KINDS))
    status: Mapped[str] = mapped_column(choice("follow_up_status", FOLLOW_UP_STATUSES),
                                        default="scheduled")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(choice("follow_up_outcome", FOLLOW_UP_OUTCOMES))
    _notes: Mapped[bytes | None] = encrypted_column("notes")
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    completed_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(lazy="joined")

    notes = EncryptedField("_notes")

    __table_args__ = (
        sa.Index("ix_follow_ups_assigned_facility_id_status_due_at",
                 "assigned_facility_id", "status", "due_at"),
        sa.Index("ix_follow_ups_status_due_at", "status", "due_at"),
    )

    def data_key_bytes(self, create: bool = False) -> bytes | None:
        return self.case.data_key_bytes(create=create)
