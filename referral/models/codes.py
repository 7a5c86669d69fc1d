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
