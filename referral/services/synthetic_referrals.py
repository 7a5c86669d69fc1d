"""The referrals and follow-ups of synthetic cases (`flask synthetic`).

A share of the people who agree to share their case are referred, where routing's hard
rules allow, nearer facilities likelier; a declined or expired referral is sometimes sent
on to another option. Each referral gets the follow-ups the policy gives it (attendance,
and a safety check for trafficking and GBV), in the state its fate leaves them.
"""

import random
from datetime import datetime, timedelta

from referral.models import FollowUp, Referral
from referral.services import demo_plans, routing  # demo_plans: services and reasons of needs
from referral.services import synthetic_fates as fates
from referral.services.synthetic_directory import Directory, Place
from referral.services.synthetic_draws import Person
from referral.services.synthetic_rows import (
    FollowUpRow,
    ReferralRow,
    ReferralServiceRow,
    ordered_id,
    seal,
)

HOLD_DAYS, HOLD = 7, 0.7  # referrals this close to the end may still await an answer
RETRY = 0.5  # a declined or expired referral is sent on to another option this often
FULL_SHARE = 0.15  # referrals that share the whole case rather than the minimum


class Referrer:
    """Makes the referrals of one run; `emit` takes each row it makes."""

    def __init__(self, directory: Directory, rng: random.Random, emit, *, period_end: datetime,
                 cutoff: datetime, now: datetime, counts):
        self.directory, self.rng, self.emit, self.counts = directory, rng, emit, counts
        self.period_end, self.cutoff, self.now = period_end, cutoff, now
        self.tomorrow = cutoff + fates.DAY
        self.hold_from = period_end - HOLD_DAYS * fates.DAY

    def refer(self, case, person: Person, place: Place, at: datetime,
              follow_up_contact: bool) -> list[tuple[datetime, fates.Fate]]:
        """Perhaps refer the case (perhaps again after a decline or an expiry).
        Returns [(created_at, fate)] of the referrals made."""
        rng = self.rng
        if rng.random() >= fates.referral_chance(case.needs, case.urgency):
            return []
        who = (routing.is_minor(case), case.sex == "female",
               routing.is_trafficking_survivor(case), routing.is_gbv_survivor(case))
        for need in case.needs:
            service = demo_plans.SERVICE_OF_NEED[need]
            if case.urgency == "emergency" and need in ("injury", "acute_illness"):
                service = "emergency_care"
            found, table = self.directory.targets(place, service, who)
            if found:
                break
        else:
            return []
        target = table.draw(rng)
        wanted = [service] + [demo_plans.SERVICE_OF_NEED[need] for need in case.needs[1:]
                              if rng.random() < 0.6]
        created = at + timedelta(minutes=rng.randint(5, 90))
        if created >= self.period_end:
            created = at + (self.period_end - at) / 2
        made, tried = [], set()
        while True:
            tried.add(target.id)
            services = sorted({code for code in wanted if code in target.services})
            fate = self._referral(case, person, place, target, services, created,
                                  follow_up_contact)
            made.append((created, fate))
            if fate.status not in ("declined", "expired") or len(made) > 1 \
                    or rng.random() >= RETRY:
                return made
            created = fate.closed_at + fates.HOUR + 7 * fates.HOUR * rng.random()
            others = [p for p in found if p.id not in tried]
            if created >= self.period_end or not others:
                return made
            target = others[rng.randrange(len(others))]

    def _referral(self, case, person: Person, place: Place, target: Place, services: list,
                  created: datetime, follow_up_contact: bool) -> fates.Fate:
        rng = self.rng
        safety = routing.is_trafficking_survivor(case) or routing.is_gbv_survivor(case)
        hold = created >= self.hold_from and rng.random() < HOLD
        fate = fates.fate(rng, case.urgency, created, cutoff=self.cutoff,
                          tomorrow=self.tomorrow, hold=hold,
                          answer_before=self.period_end if safety else None)
        referral_id = ordered_id(rng, created)
        row_id, dek = str(referral_id), person.dek
        reason = "; ".join(demo_plans.REASONS[code] for code in services)
        note = (fates.STATUS_NOTES.get(fate.status_reason)
                if fate.status in ("declined", "cancelled") and rng.random() < 0.5 else None)
        done = (rng.choice(fates.COMPLETION_NOTES)
                if fate.status == "completed" and rng.random() < 0.5 else None)
        self.emit(ReferralRow(
            id=referral_id, created_at=created, code=None, case_id=case.id,
            from_facility_id=place.id, to_facility_id=target.id, urgency=case.urgency,
            share="full" if rng.random() < FULL_SHARE else "minimum", status=fate.status,
            status_reason=fate.status_reason, outcome=fate.outcome,
            reason=seal(dek, Referral, "reason", row_id, reason),
            status_note=seal(dek, Referral, "status_note", row_id, note),
            completion_notes=seal(dek, Referral, "completion_notes", row_id, done),
            expires_at=fate.expires_at, responded_at=fate.responded_at,
            completed_at=fate.completed_at, closed_at=fate.closed_at))
        for code in services:
            self.emit(ReferralServiceRow(referral_id, code))
        self._follow_up(case, person, referral_id, "referral_attendance", place.id,
                        fates.attendance(rng, fate, created, case.urgency, follow_up_contact,
                                         self.cutoff, jobs_until=self.now))
        if safety and fate.responded_at is not None and fate.status != "declined":
            self._follow_up(case, person, referral_id, "safety_check", target.id,
                            fates.safety_check(rng, fate.responded_at, self.cutoff,
                                               jobs_until=self.now))
        self.counts.referrals[fate.status] += 1
        return fate

    def _follow_up(self, case, person: Person, referral_id, kind: str, facility_id,
                   plan: fates.Plan) -> None:
        follow_up_id = ordered_id(self.rng, plan.created_at)
        note = (fates.follow_up_note(self.rng, plan.outcome)
                if plan.completed_at is not None else None)
        self.emit(FollowUpRow(
            id=follow_up_id, created_at=plan.created_at, case_id=case.id,
            referral_id=referral_id, assigned_facility_id=facility_id, kind=kind,
            status=plan.status, due_at=plan.due_at, outcome=plan.outcome,
            notes=seal(person.dek, FollowUp, "notes", str(follow_up_id), note),
            overdue_at=plan.overdue_at, completed_at=plan.completed_at,
            cancelled_at=plan.cancelled_at))
        self.counts.follow_ups += 1

