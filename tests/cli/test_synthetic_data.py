"""`flask synthetic`: the data is believable, as the services and the jobs would have
left it (states and their timestamps, routing, follow-ups), and skewed like real data."""

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import (
    Case,
    CaseNeed,
    CaseVulnerability,
    Consent,
    Facility,
    FollowUp,
    Referral,
    ReferralService,
    Subject,
)
from referral.models.codes import DECLINE_REASONS, REFERRAL_STATUSES
from referral.services import followups, pseudonyms, routing
from tests.cli.test_synthetic import NOW, PERIOD_END, START_OF_DAY, count, fill

FINAL = ("declined", "expired", "cancelled", "completed", "no_show")
JOB_SLACK = timedelta(minutes=5)  # the scheduler runs the frequent jobs every 5 minutes


@pytest.fixture
def filled(app):
    return fill(app)


def test_cases_carry_the_plain_copies_intake_makes(filled):
    rows = db.session.execute(sa.select(Case, Subject).join(Subject)).all()
    for case, subject in rows[:300]:
        assert (case.sex, case.nationality) == (subject.sex, subject.nationality)
        assert 1 <= len(case.needs) <= 3
    bands = Counter(case.age_band for case, _ in rows)
    assert bands["unknown"] == 0
    minors = sum(bands[band] for band in ("0-4", "5-11", "12-17"))
    assert 0.1 < minors / len(rows) < 0.35


def test_referrals_reach_every_state_with_the_timestamps_that_state_implies(filled):
    states = Counter()
    for r in db.session.scalars(sa.select(Referral)):
        states[r.status] += 1
        assert PERIOD_END - timedelta(days=366) < r.created_at < PERIOD_END
        assert r.created_at >= r.case.created_at
        stamps = [r.responded_at, r.completed_at, r.closed_at]
        assert all(s is None or r.created_at <= s <= START_OF_DAY for s in stamps)
        assert (r.closed_at is not None) == (r.status in FINAL)
        assert (r.completed_at is not None) == (r.status in ("completed", "no_show"))
        assert (r.outcome is not None) == (r.status in ("completed", "no_show"))
        assert (r.status_reason is not None) == (r.status in ("declined", "cancelled", "expired"))
        assert (r.responded_at is not None) == (
            r.status in ("accepted", "declined", "completed", "no_show") or (
                r.status == "cancelled" and r.responded_at is not None))
        if r.status == "pending":
            assert r.expires_at > NOW  # the expiry job has nothing to take yet
        if r.status == "declined":
            assert r.responded_at == r.closed_at and r.status_reason in DECLINE_REASONS
        if r.status == "expired":
            assert r.closed_at >= r.expires_at and r.status_reason == "not_answered_in_time"
            assert r.responded_at is None
        if r.status == "cancelled":
            assert r.status_reason == "cancelled_by_sender"
        if r.status in ("completed", "no_show"):
            assert r.responded_at <= r.completed_at == r.closed_at
            assert (r.outcome == "no_show") == (r.status == "no_show")
        if r.responded_at is not None and r.status != "expired":
            assert r.responded_at <= r.expires_at
        if r.case.status == "closed":  # closed by hand once no referral was pending
            assert r.closed_at is not None and r.closed_at <= r.case.closed_at
        assert pseudonyms.normalize_slip_code(pseudonyms.display_slip_code(r.code)) == r.code
    assert set(states) == set(REFERRAL_STATUSES), states
    assert states["completed"] > states["pending"]


def test_referrals_only_with_consent_to_share_and_only_where_routing_allows(filled):
    made = db.session.scalars(sa.select(Referral)).all()
    assert len(made) > 300
    for referral in made:
        case = referral.case
        assert case.consent.referral_sharing
        target = db.session.get(Facility, referral.to_facility_id)
        assert set(referral.services) <= set(target.services)
        assert routing.refusals(case, target, referral.services) == {}
        assert referral.from_facility_id == case.facility_id
    unshared = db.session.scalar(
        sa.select(sa.func.count()).select_from(Referral).join(Case).join(Consent)
        .where(Consent.referral_sharing.is_(False)))
    assert unshared == 0
    referred = db.session.scalars(sa.select(Case).where(Case.status == "referred")).all()
    assert referred and all(
        any(r.status in ("pending", "accepted", "completed", "no_show")
            for r in db.session.scalars(sa.select(Referral).where(Referral.case_id == c.id)))
        for c in referred)


def test_follow_ups_follow_the_policy_for_each_referral(filled):
    for referral in db.session.scalars(sa.select(Referral)):
        checks = db.session.scalars(sa.select(FollowUp)
                                    .where(FollowUp.referral_id == referral.id)).all()
        attendance = [f for f in checks if f.kind == "referral_attendance"]
        assert len(attendance) == 1
        follow_up = attendance[0]
        assert follow_up.assigned_facility_id == referral.from_facility_id
        assert follow_up.created_at == referral.created_at
        assert follow_up.due_at == referral.created_at + followups.ATTENDANCE_DUE[
            referral.urgency]
        if follow_up.status in ("scheduled", "overdue"):
            assert referral.status in ("pending", "accepted")
        if follow_up.status == "scheduled":  # the overdue job, every 5 minutes, agrees
            assert follow_up.due_at > NOW - JOB_SLACK
        if follow_up.overdue_at is not None:
            assert follow_up.due_at <= follow_up.overdue_at <= follow_up.due_at + JOB_SLACK
            assert follow_up.overdue_at <= NOW
        if follow_up.status == "cancelled":
            assert referral.status in ("declined", "expired", "cancelled")
            assert follow_up.cancelled_at == referral.closed_at
        safety = [f for f in checks if f.kind == "safety_check"]
        accepted = referral.responded_at is not None and referral.status != "declined"
        wanted = accepted and followups.needs_safety_check(referral.case)
        assert len(safety) == int(wanted)
        for check in safety:
            assert check.assigned_facility_id == referral.to_facility_id
            assert check.created_at == referral.responded_at < PERIOD_END
            assert check.due_at == referral.responded_at + followups.SAFETY_CHECK_DUE
    assert count(FollowUp) >= count(Referral)


def test_nationalities_posts_and_needs_are_skewed_so_some_cells_are_rare(filled):
    by_nationality = Counter(db.session.scalars(sa.select(Case.nationality)))
    common = by_nationality.most_common()
    assert common[0][0] in ("HN", "VE", "GT") and common[0][1] > 20 * common[-1][1]
    assert {"HN", "GT", "SV", "VE", "NI", "HT", "CU", "EC", "CO", "MX"} <= set(by_nationality)
    assert len([n for n, k in by_nationality.items() if n and k < 5]) >= 3
    cells = Counter((f"{at:%Y-%m}", nationality) for at, nationality in db.session.execute(
        sa.select(Case.created_at, Case.nationality)))
    assert any(0 < k < 5 for k in cells.values())
    posts = Counter(db.session.scalars(sa.select(Facility.code).join(
        Case, Case.facility_id == Facility.id)))
    busiest = {code for code, _ in posts.most_common(4)}
    assert busiest & {"BP-MX-CIUDAD-HIDALGO", "BP-GT-TECUN-UMAN", "BP-SV-EL-AMATILLO",
                      "BP-HN-EL-AMATILLO"}
    kinds = set(db.session.scalars(sa.select(Facility.kind).join(
        Case, Case.facility_id == Facility.id)))
    assert kinds <= {"border_post", "clinic"}
    assert posts.most_common()[0][1] > 10 * posts.most_common()[-1][1]


def test_needs_and_languages_fit_the_person(filled):
    maternal = db.session.execute(
        sa.select(Case.sex, Case.age_band).join(CaseNeed).where(CaseNeed.code == "maternal"))
    assert {(sex, band) for sex, band in maternal} <= {
        ("female", band) for band in ("12-17", "18-29", "30-49")}
    unaccompanied = set(db.session.scalars(
        sa.select(Case.age_band).join(CaseVulnerability)
        .where(CaseVulnerability.code == "unaccompanied_minor")))
    assert unaccompanied and unaccompanied <= {"5-11", "12-17"}
    for nationality, languages in db.session.execute(
            sa.select(Subject.nationality, Subject.languages)):
        if nationality == "HT":
            assert "ht" in languages or "fr" in languages
        if nationality in ("HN", "SV", "NI", "VE", "CU", "CO"):
            assert set(languages) & {"es", "cab", "miq", "en"}
    spoken = {code for langs in db.session.scalars(sa.select(Subject.languages))
              for code in langs}
    assert {"es", "ht", "quc", "mam"} <= spoken
    services = Counter(db.session.scalars(sa.select(ReferralService.code)))
    assert len(services) >= 8
