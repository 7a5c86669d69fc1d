"""The service directory: border posts, clinics, hospitals, shelters."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.codes import FACILITY_KINDS, SERVICES, CodeList


class FacilityService(Base):
    __tablename__ = "facility_services"

    facility_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("facilities.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(choice("service", SERVICES), primary_key=True, index=True)


class Facility(IdMixin, CreatedMixin, Base):
    __tablename__ = "facilities"

    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(choice("facility_kind", FACILITY_KINDS))
    country: Mapped[str] = mapped_column(sa.String(2), index=True)
    admin_area: Mapped[str | None] = mapped_column(sa.String(120))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    languages: Mapped[list] = mapped_column(sa.JSON, default=list)
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    capacity_total: Mapped[int | None] = mapped_column(sa.Integer)
    capacity_available: Mapped[int | None] = mapped_column(sa.Integer)
    capacity_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepts_minors: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    accepts_women_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    accepts_trafficking_survivors: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    confidential: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service_rows: Mapped[list[FacilityService]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    services = CodeList("service_rows", lambda code: FacilityService(code=code))

    __table_args__ = (
        sa.CheckConstraint("capacity_available IS NULL OR capacity_available >= 0",
                           name="capacity_available_non_negative"),
        sa.CheckConstraint("capacity_total IS NULL OR capacity_total >= 0",
                           name="capacity_total_non_negative"),
    )

    @property
    def accepts(self) -> dict:
        return {
            "minors": self.accepts_minors,
            "women_only": self.accepts_women_only,
            "trafficking_survivors": self.accepts_trafficking_survivors,
        }
