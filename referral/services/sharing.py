"""What a receiving facility sees of a case it was referred (API.md, Referrals).

Access lasts while a referral to the facility is pending or accepted, and for the share
window after it was completed (or closed as a no-show); it ends at once on decline,
cancel or expiry. What is seen is what the person agreed to pass on: `minimum` (the
pseudonym, sex, age band, languages, needs, urgency, vulnerabilities and the referral's
reason) or `full` (adds names, birth date, phone and the case notes). Everything else
reads as null, through view objects, so no schema can leak a field by forgetting it.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from referral.models import Case, Referral
from referral.models.codes import LIVE_REFERRAL_STATUSES

COMPLETED = ("completed", "no_show")
SUBJECT_MINIMUM = {"pseudonym", "sex", "languages", "erased_at", "id"}
SUBJECT_FULL = SUBJECT_MINIMUM | {"given_name", "family_name", "birth_date", "birth_year",
                                  "age_estimate", "phone"}
CASE_MINIMUM = {"id", "facility_id", "status", "needs", "urgency", "vulnerabilities",
                "age_band", "created_at", "captured_at", "subject_id"}
CASE_FULL = CASE_MINIMUM | {"notes"}
# Shown as empty rather than null, so clients need no special case.
EMPTY = {"possible_duplicates": []}


def share_days() -> int:
    return current_app.config["SHARE_DAYS"]


def live_clause(facility_id, now: datetime):
    """SQL condition: a referral that still opens its case to the receiving facility."""
    window_start = now - timedelta(days=share_days())
    return sa.and_(
        Referral.to_facility_id == facility_id,
        sa.or_(Referral.status.in_(LIVE_REFERRAL_STATUSES),
               sa.and_(Referral.status.in_(COMPLETED), Referral.completed_at > window_start)),
    )


def shared_cases_clause(facility_id, now: datetime):
    """SQL condition on Case: shared with this facility through a live referral."""
    return sa.exists().where(Referral.case_id == Case.id, live_clause(facility_id, now))


def share_levels(session: Session, facility_id, case_ids, now: datetime) -> dict:
    """{case_id: "minimum" | "full"} for cases shared with the facility (full wins)."""
    if not case_ids:
        return {}
    rows = session.execute(
        sa.select(Referral.case_id, Referral.share)
        .where(Referral.case_id.in_(case_ids), live_clause(facility_id, now))
    )
    levels = {}
    for case_id, share in rows:
        if levels.get(case_id) != "full":
            levels[case_id] = share
    return levels


class _View:
    """Read-through view that answers None for any attribute not in `visible`."""

    def __init__(self, target, visible: set[str]):
        self._target = target
        self._visible = visible

    def __getattr__(self, name):
        if name in self._visible:
            return getattr(self._target, name)
        return EMPTY.get(name)


class SharedCase(_View):
    """A case as the receiving facility of a referral may see it."""

    def __init__(self, case: Case, share: str):
        super().__init__(case, CASE_FULL if share == "full" else CASE_MINIMUM)
        self.share = share
        self.subject = _View(case.subject,
                             SUBJECT_FULL if share == "full" else SUBJECT_MINIMUM)


def shared_subject(subject, levels: list[str]):
    """A person seen only through referrals, at the widest level any of them grants."""
    return _View(subject, SUBJECT_FULL if "full" in levels else SUBJECT_MINIMUM)


def view_for(case: Case, facility_id, levels: dict):
    """The case itself for its own facility, else its shared view."""
    if case.facility_id == facility_id:
        return case
    return SharedCase(case, levels.get(case.id, "minimum"))


REFERRAL_PUBLIC = {"id", "code", "case_id", "from_facility_id", "to_facility_id", "services",
                   "urgency", "share", "status", "status_reason", "outcome", "created_at",
                   "responded_at", "completed_at", "expires_at", "closed_at"}
REFERRAL_CONTENT = {"pseudonym", "reason", "status_note"}


def referral_live_for_receiver(referral: Referral, now: datetime) -> bool:
    if referral.status in LIVE_REFERRAL_STATUSES:
        return True
    return (referral.status in COMPLETED and referral.completed_at is not None
            and referral.completed_at > now - timedelta(days=share_days()))


def referral_view(referral: Referral, facility_id, now: datetime):
    """A referral as one facility sees it.

    The sender sees everything but the receiver's completion notes; the receiver sees the
    content only while the referral opens the case to it (then ids, codes and times)."""
    if referral.from_facility_id == facility_id:
        return _View(referral, REFERRAL_PUBLIC | REFERRAL_CONTENT)
    if referral_live_for_receiver(referral, now):
        return _View(referral, REFERRAL_PUBLIC | REFERRAL_CONTENT | {"completion_notes"})
    return _View(referral, REFERRAL_PUBLIC)
