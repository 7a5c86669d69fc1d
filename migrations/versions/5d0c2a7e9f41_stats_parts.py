"""statistics releases of parts: the days of one ISO week inside one month

Weeks and months are now both sums of parts (services/stats.py), so a part has a release
of its own, stored like the others and never served.

Revision ID: 5d0c2a7e9f41
Revises: 9eb294bc632d
Create Date: 2026-11-24 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d0c2a7e9f41'
down_revision = '9eb294bc632d'
branch_labels = None
depends_on = None

NAME = "ck_stats_releases_stats_period"


def _periods(*kinds):
    return "period IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    with op.batch_alter_table('stats_releases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_="check")
        batch_op.create_check_constraint(
            op.f(NAME), _periods("week", "month", "quarter", "year", "part"))


def downgrade():
    parts = "SELECT id FROM stats_releases WHERE period = 'part'"
    op.execute(sa.text(f"DELETE FROM stats_cells WHERE release_id IN ({parts})"))
    op.execute(sa.text("DELETE FROM stats_releases WHERE period = 'part'"))
    with op.batch_alter_table('stats_releases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_="check")
        batch_op.create_check_constraint(
            op.f(NAME), _periods("week", "month", "quarter", "year"))
