"""Staff accounts, their API tokens, and failed logins (throttling lives in the database)."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice
from referral.models.codes import ROLES
from referral.models.facility import Facility


class User(IdMixin, CreatedMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(choice("role", ROLES))
    facility_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("facilities.id"), index=True
    )
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    locale: Mapped[str] = mapped_column(sa.String(8), default="es")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    facility: Mapped[Facility | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('manager', 'admin') OR facility_id IS NOT NULL",
            name="facility_roles_have_a_facility",
        ),
    )

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(IdMixin, CreatedMixin, Base):
    """A bearer token, stored as the SHA-256 of its 256 random bits."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """One failed login, counted per username and per address over a sliding window."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(choice("login_failure_kind", ("username", "address")))
    key: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_login_failures_kind_key_at", "kind", "key", "at"),)
