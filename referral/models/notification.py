"""Notifications: what a facility must act on. They hold ids and codes, never personal data."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.codes import NOTIFICATION_KINDS


class Notification(IdMixin, CreatedMixin, Base):
    __tablename__ = "notifications"

    facility_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("facilities.id"))
    kind: Mapped[str] = mapped_column(choice("notification_kind", NOTIFICATION_KINDS))
    case_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    referral_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("referrals.id"),
                                                          index=True)
    follow_up_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("follow_ups.id"),
                                                           index=True)
    # One notification per event, whoever raises it and however often: kind + object id.
    # Jobs running in two processes at once rely on it.
    dedupe_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))

    __table_args__ = (
        sa.Index("ix_notifications_facility_id_read_at_created_at",
                 "facility_id", "read_at", "created_at"),
    )
