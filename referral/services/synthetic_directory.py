"""The directory as `flask synthetic` sees it: where intakes happen, how busy each intake
point is, and which facilities routing's hard rules let receive a referral."""

import math
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Conflict
from referral.models import Facility, FacilityService
from referral.services import routing
from referral.services.synthetic_draws import Weighted, site_weight

NEAR_KM = 40.0  # a target this far is a quarter as likely as one next door
UNKNOWN_KM = 300.0  # a facility without coordinates: far, but not out of reach
NO_INTAKE = "no intake point in the directory: import one first (`flask facilities import`)"


@dataclass(eq=False)
class Place:
    """A facility as routing's rules see it (the attribute names routing.refusals reads)."""

    id: uuid.UUID
    code: str
    kind: str
    country: str
    latitude: float | None
    longitude: float | None
    services: frozenset
    accepts_minors: bool
    accepts_women_only: bool
    accepts_trafficking_survivors: bool
    weight: float
    active: bool = True


def _km(a: Place, b: Place) -> float:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return UNKNOWN_KM
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    half = (math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2)
            * math.sin(math.radians(b.longitude - a.longitude) / 2) ** 2)
    return 2 * routing.EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, half)))


class Directory:
    """The active facilities: where intakes happen, and who may receive a referral."""

    def __init__(self, places: list[Place]):
        self.by_id = {place.id: place for place in places}
        self.places = places
        self.intake = Weighted({p: p.weight for p in places if p.weight > 0})
        self._eligible_for: dict = {}
        self._targets: dict = {}

    @classmethod
    def load(cls, session: Session) -> "Directory":
        """Read the directory; Conflict when it has no border post or clinic to take cases."""
        offered: dict = {}
        for facility_id, code in session.execute(
                sa.select(FacilityService.facility_id, FacilityService.code)):
            offered.setdefault(facility_id, set()).add(code)
        rows = session.execute(sa.select(
            Facility.id, Facility.code, Facility.kind, Facility.country, Facility.latitude,
            Facility.longitude, Facility.accepts_minors, Facility.accepts_women_only,
            Facility.accepts_trafficking_survivors,
        ).where(Facility.active.is_(True)).order_by(Facility.code)).all()
        places = [Place(*row[:6], frozenset(offered.get(row.id, ())), *row[6:],
                        weight=site_weight(row.code, row.kind)) for row in rows]
        if not any(place.weight for place in places):
            raise Conflict(NO_INTAKE)
        return cls(places)

    def targets(self, origin: Place, service: str, who: tuple) -> tuple[list, Weighted | None]:
        """Who may receive this kind of case for `service` (routing's hard rules), nearer
        ones likelier; border posts only when nothing else offers the service."""
        key = (origin.id, service, who)
        if key not in self._targets:
            found = [p for p in self._eligible(service, who) if p.id != origin.id]
            found = [p for p in found if p.kind != "border_post"] or found
            self._targets[key] = (found, Weighted(
                {p: (1 + _km(origin, p) / NEAR_KM) ** -2 for p in found}) if found else None)
        return self._targets[key]

    def _eligible(self, service: str, who: tuple) -> list[Place]:
        """The places routing lets take `service` for a person like `who` (minor, female,
        trafficking survivor, GBV survivor)."""
        if (service, who) not in self._eligible_for:
            minor, female, trafficking, gbv = who
            view = SimpleNamespace(
                facility_id=None, age_band="12-17" if minor else "30-49",
                sex="female" if female else "male", vulnerabilities=[],
                needs=["trafficking"] * trafficking + ["gbv"] * gbv)
            self._eligible_for[service, who] = [
                p for p in self.places if not routing.refusals(view, p, [service])]
        return self._eligible_for[service, who]
