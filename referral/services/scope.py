"""Need to know: which cases a user may see (API.md, Roles and what they see)."""

from datetime import datetime

import sqlalchemy as sa

from referral.errors import Forbidden
from referral.models import Case, User
from referral.services import sharing

CASE_ROLES = ("promoter", "facility_staff")


def case_clause(user: User, now: datetime | None = None):
    """SQL condition for the cases this user may read.

    Their own facility's cases; for facility staff, given `now`, also the cases shared
    with their facility through a live referral (read through sharing.view_for)."""
    if user.role not in CASE_ROLES:
        raise Forbidden()
    own = Case.facility_id == user.facility_id
    if now is None or user.role != "facility_staff":
        return own
    return sa.or_(own, sharing.shared_cases_clause(user.facility_id, now))
