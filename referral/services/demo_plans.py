"""The demo's referral plans: what becomes of each referral, drawn or set by a scene.

A plan says how a referral is answered and when, what follows an acceptance, and when
its follow-ups are checked. Historic referrals draw theirs (draw_plan); SCENES, the last
cases at El Amatillo, fix theirs, so the demo accounts find work waiting when they log in:
pending referrals (emergencies too), overdue follow-ups, and every state of a referral.
"""

import random
from dataclasses import dataclass
from datetime import timedelta

from referral.models.codes import DECLINE_REASONS, SERVICE_OF_NEED
from referral.services import referrals

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AMATILLO, CLINIC = "BP-SV-EL-AMATILLO", "CL-SV-SANTA-ROSA-DE-LIMA"
HOSPITAL, SAFE_HOUSE = "HO-SV-SAN-MIGUEL", "SH-SV-CASA-SEGURA"
NEEDS_FIRST = list(SERVICE_OF_NEED)  # the most pressing need decides the main service
REASONS = {
    "primary_care": "Valoración médica", "emergency_care": "Atención de urgencia",
    "maternal_care": "Control prenatal", "sexual_reproductive_health": "Consejería en SSR",
    "hiv_sti": "Prueba y consejería VIH/ITS", "tuberculosis": "Estudio por tos persistente",
    "mental_health": "Apoyo psicosocial", "gbv_care": "Atención a sobreviviente de VBG",
    "trafficking_protection": "Protección: indicadores de trata",
    "child_protection": "Protección de la niñez", "shelter": "Alojamiento temporal",
    "nutrition": "Evaluación nutricional",
}


@dataclass(frozen=True)
class Plan:
    """What becomes of one referral: the answer, what follows, and the follow-up checks.

    `answer` is accept, decline, cancel (by the sender while pending) or wait (expires).
    `then` (after acceptance) is complete, no_show, cancel, or None to stay accepted.
    A check is made that long after its follow-up is due (None: nobody checks)."""

    answer: str
    answer_after: timedelta = HOUR
    then: str | None = None
    then_after: timedelta = DAY
    outcome: str = "attended"
    reason_code: str = "other"
    share: str = "minimum"
    attendance_check: timedelta | None = None
    attendance_outcome: str = "attended"
    safety_check: timedelta | None = None
    retry: "Plan | None" = None
    retry_after: timedelta = 2 * HOUR


@dataclass(frozen=True)
class Scene:
    """A recent intake at El Amatillo, referred to a demo facility, with a fixed plan."""

    hours_ago: float
    sex: str
    age: int
    needs: tuple
    vulnerabilities: tuple
    urgency: str
    services: tuple
    target: str
    plan: Plan


WAIT = Plan("wait")
SCENES = (
    # Pending: the inboxes of the clinic, the hospital and the safe house (emergencies first).
    Scene(1, "female", 24, ("gbv",), ("gbv_survivor",), "emergency", ("gbv_care",),
          SAFE_HOUSE, WAIT),
    Scene(2, "male", 41, ("acute_illness",), (), "emergency", ("primary_care",), CLINIC, WAIT),
    Scene(5, "male", 33, ("injury",), (), "urgent", ("emergency_care",), HOSPITAL, WAIT),
    Scene(8, "female", 30, ("shelter", "trafficking"), ("trafficking_indicators",), "urgent",
          ("shelter", "trafficking_protection"), SAFE_HOUSE, WAIT),
    Scene(20, "female", 27, ("maternal",), ("pregnant",), "urgent", ("maternal_care",), CLINIC,
          WAIT),
    Scene(30, "male", 22, ("hiv_sti", "sexual_reproductive_health"), (), "routine",
          ("hiv_sti", "sexual_reproductive_health"), CLINIC, WAIT),
    # Accepted: attendance follow-ups due soon and overdue at El Amatillo, safety checks.
    Scene(48, "male", 52, ("chronic_condition",), (), "routine", ("primary_care",), CLINIC,
          Plan("accept", 5 * HOUR)),
    Scene(96, "female", 22, ("gbv", "mental_health"), ("gbv_survivor",), "urgent",
          ("gbv_care", "mental_health"), SAFE_HOUSE, Plan("accept", 2 * HOUR)),
    Scene(144, "male", 38, ("acute_illness",), (), "urgent", ("primary_care",), CLINIC,
          Plan("accept", 6 * HOUR)),
    Scene(240, "female", 29, ("gbv", "trafficking"), ("gbv_survivor", "trafficking_indicators"),
          "urgent", ("gbv_care", "trafficking_protection"), SAFE_HOUSE,
          Plan("accept", 3 * HOUR, attendance_check=4 * HOUR)),
    # Closed, one of each: declined (and referred again), expired, cancelled, done, no-show.
    Scene(72, "female", 26, ("maternal",), ("pregnant",), "urgent", ("maternal_care",),
          HOSPITAL, Plan("decline", 5 * HOUR, reason_code="no_capacity",
                         retry=Plan("accept", 3 * HOUR))),
    Scene(120, "male", 45, ("mental_health",), (), "routine", ("mental_health",), CLINIC, WAIT),
    Scene(168, "male", 30, ("acute_illness",), (), "urgent", ("primary_care",), CLINIC,
          Plan("cancel", 3 * HOUR)),
    Scene(216, "male", 27, ("injury",), (), "emergency", ("emergency_care",), HOSPITAL,
          Plan("accept", HOUR, then="complete", then_after=20 * HOUR, outcome="treated")),
    Scene(288, "female", 35, ("hiv_sti",), (), "routine", ("hiv_sti",), CLINIC,
          Plan("accept", 8 * HOUR, then="no_show", then_after=4 * DAY)),
)


def weighted(rng: random.Random, table: dict):
    """One key of `table`, drawn with its value as weight."""
    return rng.choices(list(table), weights=list(table.values()))[0]


def draw_plan(rng: random.Random, urgency: str, follow_up_contact: bool) -> Plan:
    """A believable fate for a referral of this urgency; times stay inside the deadlines."""
    window = referrals.TIME_TO_ANSWER.get(urgency, referrals.DEFAULT_TIME_TO_ANSWER)
    answer = weighted(rng, {"accept": 76, "decline": 13, "wait": 7, "cancel": 4})
    care = {"emergency": (2 * HOUR, 30 * HOUR), "urgent": (10 * HOUR, 4 * DAY),
            "routine": (DAY, 12 * DAY)}[urgency]
    return Plan(
        answer, answer_after=window * rng.uniform(0.03, 0.75),
        then=weighted(rng, {"complete": 83, "no_show": 14, "cancel": 3}),
        then_after=care[0] + (care[1] - care[0]) * rng.random(),
        outcome=weighted(rng, {"treated": 60, "admitted": 30, "attended": 10}
                         if urgency == "emergency"
                         else {"attended": 60, "treated": 35, "admitted": 5}),
        reason_code=weighted(rng, dict(zip(DECLINE_REASONS, (40, 25, 15, 5, 15), strict=True))),
        share="full" if rng.random() < 0.15 else "minimum",
        attendance_check=(HOUR + 47 * HOUR * rng.random()
                          if follow_up_contact and rng.random() < 0.6 else None),
        attendance_outcome=weighted(rng, {"attended": 60, "not_reached": 30, "missed": 10}),
        safety_check=-12 * HOUR + 84 * HOUR * rng.random() if rng.random() < 0.85 else None,
        retry=(draw_plan(rng, urgency, follow_up_contact)
               if answer in ("decline", "wait") and rng.random() < 0.6 else None),
        retry_after=HOUR + 7 * HOUR * rng.random())
