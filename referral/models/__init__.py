"""All models, imported here so metadata and Alembic see every table."""

from referral.models.audit import AuditEvent, AuditHead
from referral.models.base import Base
from referral.models.case import Case, CaseNeed, CaseVulnerability
from referral.models.facility import Facility, FacilityService
from referral.models.followup import FollowUp
from referral.models.notification import Notification
from referral.models.referral import Referral, ReferralService
from referral.models.stats import StatsCell, StatsClaim, StatsRelease
from referral.models.subject import Consent, DataKey, Subject
from referral.models.user import ApiToken, LoginFailure, User

__all__ = [
    "ApiToken", "AuditEvent", "AuditHead", "Base", "Case", "CaseNeed", "CaseVulnerability",
    "Consent", "DataKey", "Facility", "FacilityService", "FollowUp", "LoginFailure",
    "Notification", "Referral", "ReferralService", "StatsCell", "StatsClaim", "StatsRelease",
    "Subject", "User",
]
