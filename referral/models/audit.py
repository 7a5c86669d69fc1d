"""The append-only, hash-chained audit log. It holds no personal values."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral.models.base import Base, IdMixin, UTCDateTime


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    actor: Mapped[str | None] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    # Names (never values) of what changed, counts, outcomes: no personal data.
    detail: Mapped[dict | None] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """One row: the chain's last sequence number and hash. Appending locks it, so
    concurrent writers form one chain, and deleting the newest events is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))
