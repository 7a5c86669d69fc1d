"""Referral routing: which facilities may receive a case, and which serve it best.

Hard filters are one table of rules (`RULES` and `_offers_rule`), each with an SQL clause
for `rank` and the same test in Python for `refusals`, so the two can never disagree:
- active, and not the case's own facility;
- offers every requested service;
- a minor (age band under 18, or an unaccompanied or separated minor) only where
  `accepts_minors`; a women-only facility only takes `sex == "female"`;
- a trafficking survivor (need `trafficking` or vulnerability `trafficking_indicators`)
  only where `accepts_trafficking_survivors`;
- a GBV survivor (need `gbv` or vulnerability `gbv_survivor`): DESIGN.md says "only to
  facilities that accept them", but facilities have no such flag, so our rule is: the
  facility offers `gbv_care`, or it accepts trafficking survivors (a protected shelter).

Score (higher is better; ties by name, then code): a sum of terms, each weighted by the
case's urgency (`WEIGHTS`), 0 meaning neutral:
- distance d, haversine km from the referring facility: 1 - log2(1 + d / 100), so 1 at the
  door, 0 at 100 km, -1 at 300 km, -2 at 700 km (far never stops costing); unknown: 0;
- capacity: +0.55..+1 with places free (more is better, up to 10), -1 when full, 0 when not
  reported; times the figure's freshness, halved every 3 days (floor 0.1, 0.25 undated);
  a full facility also loses `full` x freshness (emergency: 8, so the nearest with capacity
  comes first);
- language: 0.5 + 0.5 x the share of the subject's languages the facility speaks, -0.5
  when it speaks none of them, 0 when the subject's languages are not recorded;
- direction: northbound, progress towards NORTH (the drop in distance to it) / 200 km,
  capped at +-1; southbound or returning, towards SOUTH; staying, unknown or emergency: 0.
Confidential facilities are ranked, but nothing about where they are leaves the server:
no distance_km, no distance or direction reason, and their distance and progress enter the
score only in 50 km steps (no finer than the admin area the directory shows anyway).
"""

import functools
import heapq
import math
import operator
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Invalid
from referral.models import Case, Facility, FacilityService, Referral, User
from referral.models.codes import SERVICES
from referral.services import audit, intake, reasons

MINOR_AGE_BANDS = ("0-4", "5-11", "12-17")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
EARTH_RADIUS_KM = 6371.0088
NEAR_KM = 100.0  # the distance term is 0 here, and falls by 1 each time 1 + d/NEAR doubles
NORTH = (32.0, -106.0)  # Ciudad Juárez / El Paso: where the northbound route ends
SOUTH = (8.98, -79.52)  # Panama City: the far end of the route south
ROUTE_KM = 200.0  # progress worth a full direction term
AHEAD_KM = 25.0  # progress below this is "level", not ahead or behind
CONFIDENTIAL_STEP_KM = 50.0
FRESH_HALF_LIFE_H = 72.0
@dataclass(frozen=True)
class Weights:
    distance: float
    capacity: float
    full: float
    language: float
    direction: float


WEIGHTS = {
    "routine": Weights(distance=3, capacity=2, full=0, language=2, direction=2),
    "urgent": Weights(distance=5, capacity=2.5, full=1, language=1.5, direction=1),
    "emergency": Weights(distance=10, capacity=3, full=8, language=0.5, direction=0),
}


def is_minor(case: Case) -> bool:
    vulnerable = {"unaccompanied_minor", "separated_minor"} & set(case.vulnerabilities)
    return case.age_band in MINOR_AGE_BANDS or bool(vulnerable)


def is_trafficking_survivor(case: Case) -> bool:
    return "trafficking" in case.needs or "trafficking_indicators" in case.vulnerabilities


def is_gbv_survivor(case: Case) -> bool:
    return "gbv" in case.needs or "gbv_survivor" in case.vulnerabilities


def _offers(code: str):
    return sa.exists().where(FacilityService.facility_id == Facility.id,
                             FacilityService.code == code)


@dataclass(frozen=True)
class Rule:
    """One hard filter: when it applies, its SQL clause, the same test in Python, why not."""

    field: str
    message: str
    applies: Callable[[Case], bool]
    clause: Callable[[Case], sa.ColumnElement]
    passes: Callable[[Facility, Case], bool]


RULES = (
    Rule("to_facility_id", "Not active.", lambda c: True,
         lambda c: Facility.active.is_(True), lambda f, c: bool(f.active)),
    Rule("to_facility_id", "Is the case's own facility.", lambda c: True,
         lambda c: Facility.id != c.facility_id, lambda f, c: f.id != c.facility_id),
    Rule("to_facility_id", "Does not accept minors.", is_minor,
         lambda c: Facility.accepts_minors.is_(True), lambda f, c: bool(f.accepts_minors)),
    Rule("to_facility_id", "Takes women only.", lambda c: c.sex != "female",
         lambda c: Facility.accepts_women_only.is_(False),
         lambda f, c: not f.accepts_women_only),
    Rule("to_facility_id", "Does not accept trafficking survivors.", is_trafficking_survivor,
         lambda c: Facility.accepts_trafficking_survivors.is_(True),
         lambda f, c: bool(f.accepts_trafficking_survivors)),
    Rule("to_facility_id", "Does not take GBV survivors: no gbv_care and not a protected "
         "shelter.", is_gbv_survivor,
         lambda c: sa.or_(_offers("gbv_care"), Facility.accepts_trafficking_survivors.is_(True)),
         lambda f, c: "gbv_care" in f.services or bool(f.accepts_trafficking_survivors)),
)


def _offers_rule(code: str) -> Rule:
    return Rule("services", f"Does not offer {code}.", lambda c: True,
                lambda c: _offers(code), lambda f, c: code in f.services)


def _rules(case: Case, services: Iterable[str]) -> list[Rule]:
    wanted = [_offers_rule(code) for code in dict.fromkeys(services)]
    return [rule for rule in RULES if rule.applies(case)] + wanted


def refusals(case: Case, facility: Facility, services: list[str]) -> dict[str, list[str]]:
    """Why this facility may not receive this case for these services ({} when it may)."""
    found: dict[str, list[str]] = {}
    for rule in _rules(case, services):
        if not rule.passes(facility, case):
            found.setdefault(rule.field, []).append(rule.message)
    return found


@dataclass
class Option:
    """One facility that may receive the case, its score and why it ranked there."""

    facility: Facility
    distance_km: float | None
    capacity_available: int | None
    score: float
    reasons: list[str]

    @property
    def facility_id(self) -> uuid.UUID:
        return self.facility.id

    @property
    def name(self) -> str:
        return self.facility.name

    @property
    def kind(self) -> str:
        return self.facility.kind


def _distance_from(point: tuple[float, float]) -> Callable[[float, float], float]:
    """Haversine km from a fixed point to (latitude, longitude), its trigonometry done once."""
    phi0, lambda0 = math.radians(point[0]), math.radians(point[1])
    cos0 = math.cos(phi0)

    def km(latitude: float, longitude: float) -> float:
        phi = math.radians(latitude)
        half = (math.sin((phi - phi0) / 2) ** 2 + cos0 * math.cos(phi)
                * math.sin((math.radians(longitude) - lambda0) / 2) ** 2)
        return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, half)))

    return km


def _step(km: float) -> float:
    return round(km / CONFIDENTIAL_STEP_KM) * CONFIDENTIAL_STEP_KM


def _shared_languages(codes: list[str]):
    """How many of these languages a facility speaks, counted in SQL on the stored JSON."""
    text = sa.cast(Facility.languages, sa.Text)
    return functools.reduce(operator.add, [sa.case((text.like(f'%"{code}"%'), 1), else_=0)
                                           for code in codes], sa.literal(0))


@dataclass
class _Context:
    """What scoring needs to know about the case, worked out once per ranking."""

    case: Case
    services: list[str]
    now: datetime
    weights: Weights
    languages: list[str]
    direction: str
    from_origin: Callable[[float, float], float] | None
    to_anchor: Callable[[float, float], float] | None
    origin_to_anchor: float

    @classmethod
    def of(cls, session: Session, case: Case, services: list[str], now: datetime):
        origin = session.get(Facility, case.facility_id)
        known = origin.latitude is not None and origin.longitude is not None
        from_origin = _distance_from((origin.latitude, origin.longitude)) if known else None
        anchor = {"northbound": NORTH, "southbound": SOUTH, "returning": SOUTH}.get(
            case.travel_direction)
        weights = WEIGHTS.get(case.urgency, WEIGHTS["routine"])
        # No direction term (emergency): no route distance to work out, nor a reason.
        counts = anchor is not None and known and weights.direction > 0
        to_anchor = _distance_from(anchor) if counts else None
        # Codes are checked at intake; the check again keeps LIKE patterns plain letters.
        languages = [code for code in dict.fromkeys(case.subject.languages or [])
                     if LANGUAGE_CODE.match(code)]
        return cls(case, services, now, weights, languages, case.travel_direction, from_origin,
                   to_anchor, to_anchor(origin.latitude, origin.longitude) if to_anchor else 0.0)

    def place(self, item) -> tuple[float | None, float | None]:
        """Distance from the referring facility and progress along the route, in km."""
        latitude, longitude = item.latitude, item.longitude
        if self.from_origin is None or latitude is None or longitude is None:
            return None, None
        km = self.from_origin(latitude, longitude)
        ahead = (self.origin_to_anchor - self.to_anchor(latitude, longitude)
                 if self.to_anchor else None)
        if item.confidential:
            return _step(km), None if ahead is None else _step(ahead)
        return km, ahead

    def score(self, item, shared_languages: int) -> float:
        """The documented score of one candidate (a row of SCORED, or a Facility)."""
        w, total = self.weights, 0.0
        km, ahead = self.place(item)
        if km is not None:
            total += w.distance * (1 - math.log2(1 + km / NEAR_KM))
        if ahead is not None:
            total += w.direction * max(-1.0, min(1.0, ahead / ROUTE_KM))
        free = item.capacity_available
        if free is not None:
            updated_at = item.capacity_updated_at
            if updated_at is None:
                fresh = 0.25
            else:
                hours = (self.now - updated_at).total_seconds() / 3600
                fresh = 1.0 if hours <= 0 else max(0.1, 0.5 ** (hours / FRESH_HALF_LIFE_H))
            total += (w.capacity * fresh * (0.5 + 0.05 * min(free, 10)) if free > 0
                      else -(w.capacity + w.full) * fresh)
        if self.languages:
            total += w.language * (0.5 + 0.5 * shared_languages / len(self.languages)
                                   if shared_languages else -0.5)
        return round(total, 3)

    def option(self, facility: Facility, score: float) -> Option:
        km = None if facility.confidential else self.place(facility)[0]
        return Option(facility, None if km is None else round(km, 1),
                      facility.capacity_available, score, self.reasons(facility))

    def reasons(self, facility: Facility) -> list[str]:
        """Why this facility ranked where it did, in plain English for staff."""
        case = self.case
        found = [reasons.offers(code) for code in self.services]
        if is_gbv_survivor(case) and "gbv_care" not in self.services \
                and "gbv_care" in facility.services:
            found.append(reasons.offers("gbv_care"))
        if facility.accepts_trafficking_survivors and (
                is_trafficking_survivor(case) or is_gbv_survivor(case)):
            found.append(reasons.FIXED["accepts trafficking survivors"]())
        if is_minor(case):
            found.append(reasons.FIXED["accepts minors"]())
        if facility.accepts_women_only:
            found.append(reasons.FIXED["women only"]())
        found.append(reasons.distance(None if facility.confidential
                                      else self.place(facility)[0], facility.confidential))
        found.append(reasons.capacity(facility.capacity_available,
                                      facility.capacity_updated_at, self.now))
        if self.languages:
            found.append(reasons.languages(self.languages, facility.languages or []))
        if not facility.confidential:
            found.extend(self._direction(facility))
        if case.urgency == "emergency":
            found.append(reasons.emergency(facility.capacity_available))
        return found

    def _direction(self, facility: Facility) -> list[str]:
        ahead = self.place(facility)[1]
        if ahead is None or self.direction not in reasons.ROUTES or abs(ahead) < AHEAD_KM:
            return []
        return [reasons.direction(self.direction, ahead > 0)]


# Only what scoring reads (languages are counted in SQL), so thousands of candidates stay cheap.
SCORED = (Facility.name, Facility.code, Facility.latitude, Facility.longitude,
          Facility.capacity_available, Facility.capacity_updated_at, Facility.confidential)


def rank(session: Session, case: Case, services: list[str], *, now: datetime, exclude=(),
         limit=10) -> list[Option]:
    """Active facilities that offer every service and accept the subject, best first."""
    services = list(dict.fromkeys(services))
    context = _Context.of(session, case, services, now)
    query = (sa.select(*SCORED, _shared_languages(context.languages).label("shared"))
             .where(*(rule.clause(case) for rule in _rules(case, services))))
    excluded = [uuid.UUID(str(facility_id)) for facility_id in exclude]
    if excluded:
        query = query.where(Facility.id.not_in(excluded))
    best = heapq.nsmallest(max(0, limit), ((-context.score(row, row.shared), row.name, row.code)
                                           for row in session.execute(query)))
    codes = [code for *_, code in best]
    found = {facility.code: facility for facility in
             session.scalars(sa.select(Facility).where(Facility.code.in_(codes)))} if codes else {}
    # A facility renamed or removed between the two queries is simply not offered.
    return [context.option(found[code], -score) for score, _, code in best if code in found]


def tried_facilities(session: Session, case_id) -> list[uuid.UUID]:
    """Every facility this case was already referred to (not offered again as a next option)."""
    return list(session.scalars(sa.select(Referral.to_facility_id)
                                .where(Referral.case_id == case_id).distinct()))


def options_for(session: Session, actor: User, case_id, services: list[str], *, now: datetime,
                limit: int = 10, ip: str | None = None) -> list[Option]:
    """Ranked referral options for a case of the caller's own facility (audited)."""
    unknown = [code for code in services if code not in SERVICES]
    if not services or unknown:
        raise Invalid(fields={"service": [f"Unknown service: {code}." for code in unknown]
                              or ["Name at least one service."]})
    case = intake.own_case(session, actor, case_id)
    options = rank(session, case, services, now=now, limit=limit)
    audit.record(session, "referral_options_listed", actor=actor, object_type="case",
                 object_id=case.id, ip=ip, now=now,
                 detail={"services": list(dict.fromkeys(services)), "limit": limit,
                         "facility_ids": [str(option.facility_id) for option in options]})
    return options
