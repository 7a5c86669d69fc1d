"""Published statistics: one release per finished calendar period, never changed.

A cell is one published number of one table (metric, dimensions, values) of one
release; a suppressed cell is stored with no count, so what was published is all there
is to read, and nothing can leak what disclosure control hid.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice

# A part (the days of one ISO week inside one month) is released to be added up into
# weeks and months, never served (services/periods.py).
PERIODS = ("week", "month", "quarter", "year", "part")


class StatsRelease(IdMixin, CreatedMixin, Base):
    __tablename__ = "stats_releases"

    period: Mapped[str] = mapped_column(choice("stats_period", PERIODS))
    period_key: Mapped[str] = mapped_column(sa.String(10))  # 2026-W43, 2026-10, 2026-Q4, 2026
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    k: Mapped[int] = mapped_column(sa.Integer)
    cells: Mapped[int] = mapped_column(sa.Integer, default=0)
    hidden_cells: Mapped[int] = mapped_column(sa.Integer, default=0)
    seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)

    __table_args__ = (sa.UniqueConstraint("period", "period_key",
                                          name="one_release_per_period"),)


class StatsCell(Base):
    __tablename__ = "stats_cells"

    release_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("stats_releases.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    # The table: its dimension names in canonical order, comma separated ("" for totals).
    dimensions: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    # The cell: its values as a JSON array in the same order.
    coordinates: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    count: Mapped[int | None] = mapped_column(sa.Integer)  # None: suppressed


class StatsClaim(Base):
    """A period being computed by one releaser, in a SQLite file (services/stats.py).

    PostgreSQL holds an advisory lock while a release is computed; a SQLite file computes
    it in a read snapshot, holding nothing, so that intakes go on. This row is how another
    releaser of the same period, in another thread or process, knows to wait for that
    release instead of computing it too. It goes when the release is stored, or when the
    computation fails; one left by a releaser that died is taken over."""

    __tablename__ = "stats_claims"

    period: Mapped[str] = mapped_column(choice("stats_period", PERIODS), primary_key=True)
    period_key: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    # Who computes it: host name, process id and thread id, joined by ":".
    holder: Mapped[str] = mapped_column(sa.String(300))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
