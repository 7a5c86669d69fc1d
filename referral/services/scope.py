"""Need to know: which cases a user may see (API.md, Roles and what they see)."""

import sqlalchemy as sa

from referral.errors import Forbidden
from referral.models import Case, User

CASE_ROLES = ("promoter", "facility_staff")


def case_clause(user: User):
    """SQL condition for the cases this user may read."""
    if user.role not in CASE_ROLES:
        raise Forbidden()
    return Case.facility_id == user.facility_id


def can_see(user: User, case: Case) -> bool:
    return user.role in CASE_ROLES and case.facility_id == user.facility_id


def visible_cases(user: User):
    return sa.select(Case).where(case_clause(user))
