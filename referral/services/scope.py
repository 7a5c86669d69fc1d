"""Need to know: which cases a user may see (API.md, Roles and what they see)."""

from referral.errors import Forbidden
from referral.models import Case, User

CASE_ROLES = ("promoter", "facility_staff")


def case_clause(user: User):
    """SQL condition for the cases this user may read."""
    if user.role not in CASE_ROLES:
        raise Forbidden()
    return Case.facility_id == user.facility_id
