"""What becomes of a synthetic referral and its follow-ups (`flask synthetic`): answers,
care, expiries and checks, each at a believable moment, as the services and the scheduled
jobs would have recorded them. Plain functions of a seeded random source; no database.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from referral.services import followups, referrals
from referral.services.synthetic_draws import Weighted

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
JOB_EVERY = 300  # seconds: the scheduler marks overdue and expired things this often

STATUS_NOTES = {
    "no_capacity": "Sin cupo esta semana.", "not_eligible": "No cumple criterios del servicio.",
    "service_unavailable": "Servicio suspendido temporalmente.",
    "unsafe_for_person": "El lugar no es seguro para la persona.", "other": "Ver con la unidad.",
    "cancelled_by_sender": "La persona siguió su camino.",
}
COMPLETION_NOTES = ("Atendida; se entregan indicaciones y medicamentos.",
                    "Valoración completa; cita de control en una semana.",
                    "Se brinda tratamiento y orientación.")
FOLLOW_UP_NOTES = {"attended": "Confirma que asistió a la cita.",
                   "reached": "Se encuentra bien y en lugar seguro.",
                   "not_reached": "No contesta el teléfono.",
                   "missed": "No se presentó a la cita."}
ANSWER = Weighted({"accept": 74, "decline": 13, "wait": 8, "cancel": 5})
AFTER_ACCEPT = Weighted({"complete": 80, "no_show": 13, "cancel": 3, None: 4})
CARE_TIME = {"emergency": (2 * HOUR, 30 * HOUR), "urgent": (10 * HOUR, 4 * DAY),
             "routine": (DAY, 12 * DAY)}
OUTCOME = {True: Weighted({"treated": 60, "admitted": 30, "attended": 10}),
           False: Weighted({"attended": 60, "treated": 35, "admitted": 5})}
DECLINE = Weighted({"no_capacity": 40, "not_eligible": 25, "service_unavailable": 15,
                    "unsafe_for_person": 5, "other": 15})
CHECKED = {"completed": Weighted({"attended": 75, "not_reached": 25}),
           "no_show": Weighted({"missed": 60, "not_reached": 40}),
           None: Weighted({"attended": 50, "not_reached": 40, "missed": 10})}


def referral_chance(needs: list[str], urgency: str) -> float:
    """Of the people who agree to share their case, how likely they are to be referred."""
    if {"gbv", "trafficking", "child_protection", "maternal", "tuberculosis"} & set(needs):
        return 0.6
    return 0.45 if urgency == "emergency" else 0.22


@dataclass(slots=True)
class Fate:
    """A referral's lifecycle: its status now and the timestamps that status implies."""

    status: str
    expires_at: datetime
    responded_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    status_reason: str | None = None
    outcome: str | None = None


def follow_up_note(rng: random.Random, outcome: str | None) -> str | None:
    """Sometimes a line on what a follow-up found (encrypted like all free text)."""
    return FOLLOW_UP_NOTES.get(outcome) if rng.random() < 0.3 else None


def _lag(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.uniform(1, JOB_EVERY))


def fate(rng: random.Random, urgency: str, created: datetime, *, cutoff: datetime,
         tomorrow: datetime, hold: bool, answer_before: datetime | None) -> Fate:
    """What became of a referral made at `created`, as of `cutoff` (nothing happens later).

    A referral still pending waits for an answer until after `tomorrow`: the data only
    covers finished months, so the policy's 48 h would have expired it already. With
    `answer_before`, an acceptance comes before it (its safety check then falls in range)."""
    window = referrals.TIME_TO_ANSWER.get(urgency, referrals.DEFAULT_TIME_TO_ANSWER)
    expires = created + window
    waiting = Fate("pending", max(expires, tomorrow + window * rng.uniform(0.1, 1)))
    if hold:
        return waiting
    answer = ANSWER.draw(rng)
    at = created + window * rng.uniform(0.03, 0.75)
    if answer == "accept" and answer_before is not None and at >= answer_before:
        at = created + (answer_before - created) * rng.uniform(0.2, 0.9)
    if answer == "wait":
        closed = expires + _lag(rng)
        if closed > cutoff:
            return waiting
        return Fate("expired", expires, closed_at=closed, status_reason="not_answered_in_time")
    if at > cutoff:
        return waiting
    if answer == "cancel":
        return Fate("cancelled", expires, closed_at=at, status_reason="cancelled_by_sender")
    if answer == "decline":
        return Fate("declined", expires, responded_at=at, closed_at=at,
                    status_reason=DECLINE.draw(rng))
    then = AFTER_ACCEPT.draw(rng)
    low, high = CARE_TIME[urgency]
    done = at + low + (high - low) * rng.random()
    if then is None or done > cutoff:
        return Fate("accepted", expires, responded_at=at)
    if then == "cancel":
        return Fate("cancelled", expires, responded_at=at, closed_at=done,
                    status_reason="cancelled_by_sender")
    outcome = "no_show" if then == "no_show" else OUTCOME[urgency == "emergency"].draw(rng)
    return Fate("no_show" if then == "no_show" else "completed", expires, responded_at=at,
                completed_at=done, closed_at=done, outcome=outcome)


@dataclass(slots=True)
class Plan:
    """A follow-up's state now, with the timestamps of how it got there."""

    created_at: datetime
    due_at: datetime
    status: str = "scheduled"
    outcome: str | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    overdue_at: datetime | None = None


def _open_until(rng: random.Random, plan: Plan, settled: datetime | None,
                jobs_until: datetime) -> Plan:
    """The overdue job marked it if it was still open a few minutes after it fell due
    (the job runs up to `jobs_until`, the moment of the run, so open follow-ups agree
    with the clock: none is still scheduled long after its due time)."""
    marked = plan.due_at + _lag(rng)
    if marked <= jobs_until and (settled is None or settled > marked):
        plan.overdue_at = marked
        if settled is None:
            plan.status = "overdue"
    return plan


def attendance(rng: random.Random, made: Fate, created: datetime, urgency: str,
               contact: bool, cutoff: datetime, *, jobs_until: datetime) -> Plan:
    """The sender's referral_attendance follow-up: checked by hand before `cutoff`, or
    settled by the referral's final state as followups.on_referral_closed does, or open."""
    plan = Plan(created, created + followups.ATTENDANCE_DUE[urgency])
    check = plan.due_at + HOUR + 47 * HOUR * rng.random()
    if (contact and made.responded_at is not None and made.status != "declined"
            and rng.random() < 0.45 and check <= cutoff
            and (made.closed_at is None or check < made.closed_at)):
        plan.outcome = CHECKED.get(made.status, CHECKED[None]).draw(rng)
        plan.status = "missed" if plan.outcome == "missed" else "done"
        plan.completed_at = check
        return _open_until(rng, plan, check, jobs_until)
    if made.status in followups.SETTLES_ATTENDANCE:
        plan.status, plan.outcome, stamp = followups.SETTLES_ATTENDANCE[made.status]
        setattr(plan, stamp, made.closed_at)
        return _open_until(rng, plan, made.closed_at, jobs_until)
    return _open_until(rng, plan, None, jobs_until)


def safety_check(rng: random.Random, accepted: datetime, cutoff: datetime, *,
                 jobs_until: datetime) -> Plan:
    """The receiver's safety_check a week after accepting a trafficking or GBV referral,
    done by hand before `cutoff` or still open."""
    plan = Plan(accepted, accepted + followups.SAFETY_CHECK_DUE)
    done = plan.due_at - 12 * HOUR + 84 * HOUR * rng.random()
    if rng.random() < 0.88 and done <= cutoff:
        plan.status, plan.completed_at = "done", done
        plan.outcome = "reached" if rng.random() < 0.8 else "not_reached"
        return _open_until(rng, plan, done, jobs_until)
    return _open_until(rng, plan, None, jobs_until)
