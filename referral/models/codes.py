"""Vocabularies of API.md, and multi-valued code lists kept as child rows.

Needs, vulnerabilities and services are rows, not JSON, so statistics and routing
can GROUP BY and filter on them in SQL on SQLite and PostgreSQL alike.
"""

FACILITY_KINDS = ("border_post", "clinic", "hospital", "shelter", "mobile_unit", "ngo_office")
SERVICES = (
    "primary_care", "emergency_care", "sexual_reproductive_health", "maternal_care", "hiv_sti",
    "tuberculosis", "mental_health", "gbv_care", "trafficking_protection", "child_protection",
    "shelter", "nutrition",
)
NEEDS = (
    "injury", "acute_illness", "chronic_condition", "maternal", "sexual_reproductive_health",
    "hiv_sti", "tuberculosis", "mental_health", "gbv", "trafficking", "child_protection",
    "shelter", "nutrition",
)
VULNERABILITIES = (
    "unaccompanied_minor", "separated_minor", "pregnant", "trafficking_indicators",
    "gbv_survivor", "disability", "lgbti", "elderly",
)
SEXES = ("female", "male", "intersex", "unknown")
URGENCIES = ("emergency", "urgent", "routine")
TRAVEL_DIRECTIONS = ("northbound", "southbound", "returning", "staying", "unknown")
CASE_STATUSES = ("open", "referred", "closed")
CONSENT_METHODS = ("verbal", "written")
CONSENT_GIVERS = ("self", "guardian")
ROLES = ("promoter", "facility_staff", "manager", "admin")
AGE_BANDS = ("0-4", "5-11", "12-17", "18-29", "30-49", "50+", "unknown")
# The service that answers each need, the most pressing need first.
SERVICE_OF_NEED = {
    "trafficking": "trafficking_protection", "gbv": "gbv_care",
    "child_protection": "child_protection", "maternal": "maternal_care",
    "injury": "primary_care", "acute_illness": "primary_care", "tuberculosis": "tuberculosis",
    "hiv_sti": "hiv_sti", "sexual_reproductive_health": "sexual_reproductive_health",
    "mental_health": "mental_health", "chronic_condition": "primary_care",
    "nutrition": "nutrition", "shelter": "shelter",
}


class CodeList:
    """Property exposing a one-to-many of (owner, code) rows as a sorted list of codes."""

    def __init__(self, relationship_name: str, row_factory):
        self.relationship_name = relationship_name
        self.row_factory = row_factory

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return sorted(row.code for row in getattr(obj, self.relationship_name))

    def __set__(self, obj, codes):
        rows = getattr(obj, self.relationship_name)
        wanted = set(codes or ())
        for row in list(rows):
            if row.code not in wanted:
                rows.remove(row)
        have = {row.code for row in rows}
        for code in sorted(wanted - have):
            rows.append(self.row_factory(code))

REFERRAL_STATUSES = ("pending", "accepted", "declined", "expired", "cancelled", "completed",
                     "no_show")
# The lifecycle of API.md as data: any other move is 409.
REFERRAL_MOVES = {
    "pending": ("accepted", "declined", "expired", "cancelled"),
    "accepted": ("completed", "no_show", "cancelled"),
}
LIVE_REFERRAL_STATUSES = ("pending", "accepted")
SHARE_LEVELS = ("minimum", "full")
DECLINE_REASONS = ("no_capacity", "not_eligible", "service_unavailable", "unsafe_for_person",
                   "other")
REFERRAL_OUTCOMES = ("attended", "treated", "admitted", "no_show")
FOLLOW_UP_KINDS = ("referral_attendance", "safety_check", "clinical_review", "contact")
FOLLOW_UP_STATUSES = ("scheduled", "overdue", "done", "missed", "cancelled")
FOLLOW_UP_OPEN = ("scheduled", "overdue")
FOLLOW_UP_OUTCOMES = ("reached", "not_reached", "attended", "missed")
NOTIFICATION_KINDS = ("referral_received", "referral_declined", "referral_expired",
                      "referral_cancelled", "referral_completed", "follow_up_overdue")
