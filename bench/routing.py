"""Benchmark routing.rank over a regional directory of 5,000 facilities.

Builds the directory (seeded random positions over lat 8..33, lon -118..-77, random services,
accepts, capacity and languages, some confidential) in a temporary SQLite file and, when a
PostgreSQL server answers at BENCH_PG_URL, in a scratch database it creates and drops. Then
times `routing.rank` for 200 cases of varied needs and urgency, each in a fresh session as a
request would be, and prints `name  measured  target`. Not a test: it always exits 0.

    .venv/bin/python bench/routing.py
"""

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from _scratch import scratch_postgres  # bench/, beside this script

from referral import create_app
from referral.extensions import db
from referral.models import Case, Consent, Facility, FacilityService, Subject
from referral.models.codes import FACILITY_KINDS, SERVICES
from referral.services import pseudonyms, routing
from referral.services.crypto import Keyring

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
FACILITIES, POSTS, CASES = 5000, 30, 200
TARGETS_MS = {"p50": 50.0, "p95": 100.0}
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
# How often a facility offers each service (primary care is everywhere, protection is rare).
OFFERED = {"primary_care": 0.6, "emergency_care": 0.2, "sexual_reproductive_health": 0.3,
           "maternal_care": 0.25, "hiv_sti": 0.2, "tuberculosis": 0.1, "mental_health": 0.3,
           "gbv_care": 0.3, "trafficking_protection": 0.1, "child_protection": 0.15,
           "shelter": 0.2, "nutrition": 0.2}
LANGUAGES = ("es", "es", "es", "en", "fr", "ht", "pt", "quc", "mam", "kek", "cab", "cak")
# (needs, vulnerabilities, services asked): the mixes promoters refer most.
PROFILES = (
    (["acute_illness"], [], ["primary_care"]),
    (["injury"], [], ["emergency_care"]),
    (["gbv"], ["gbv_survivor"], ["gbv_care"]),
    (["gbv", "mental_health"], [], ["gbv_care", "mental_health"]),
    (["trafficking"], ["trafficking_indicators"], ["trafficking_protection"]),
    (["maternal"], ["pregnant"], ["maternal_care"]),
    (["child_protection"], ["unaccompanied_minor"], ["child_protection", "shelter"]),
    (["shelter", "nutrition"], [], ["shelter"]),
    (["hiv_sti"], [], ["hiv_sti", "sexual_reproductive_health"]),
)


def build_directory(rng: random.Random) -> list[uuid.UUID]:
    """Insert the facilities in bulk; return the ids of the border posts."""
    facilities, services, posts = [], [], []
    for n in range(FACILITIES):
        facility_id = uuid.uuid4()
        kind = "border_post" if n < POSTS else rng.choice(FACILITY_KINDS[1:])
        if n < POSTS:
            posts.append(facility_id)
        free = rng.choice((None, 0, 0, 1, 3, 8, 20))
        facilities.append({
            "id": facility_id, "created_at": NOW, "code": f"BENCH-{n:05d}",
            "name": f"Facility {n:05d}", "kind": kind, "country": "GT",
            "latitude": rng.uniform(8, 33), "longitude": rng.uniform(-118, -77),
            "languages": sorted(set(rng.sample(LANGUAGES, rng.randint(1, 3)))),
            "capacity_total": 30, "capacity_available": free,
            "capacity_updated_at": None if free is None
            else NOW - timedelta(hours=rng.uniform(0, 400)),
            "accepts_minors": rng.random() < 0.7, "accepts_women_only": rng.random() < 0.1,
            "accepts_trafficking_survivors": rng.random() < 0.15,
            "confidential": rng.random() < 0.05, "active": rng.random() < 0.95,
        })
        offered = [code for code in SERVICES if rng.random() < OFFERED[code]] or ["primary_care"]
        services.extend({"facility_id": facility_id, "code": code} for code in offered)
    db.session.execute(sa.insert(Facility.__table__), facilities)
    db.session.execute(sa.insert(FacilityService.__table__), services)
    return posts


def build_cases(rng: random.Random, posts: list[uuid.UUID]) -> list[tuple[uuid.UUID, list]]:
    """200 cases at the border posts; return (case id, services asked) pairs."""
    made = []
    for _ in range(CASES):
        needs, vulnerable, services = rng.choice(PROFILES)
        sex = rng.choice(("female", "female", "male", "unknown"))
        subject = Subject(pseudonym=pseudonyms.generate(), sex=sex,
                          languages=rng.sample(LANGUAGES[3:], rng.randint(0, 2)) + ["es"])
        consent = Consent(subject=subject, data_collection=True, referral_sharing=True,
                          method="verbal", given_by="self")
        case = Case(subject=subject, consent=consent, facility_id=rng.choice(posts), sex=sex,
                    urgency=rng.choice(("routine", "routine", "urgent", "emergency")),
                    travel_direction=rng.choice(("northbound", "northbound", "southbound",
                                                 "returning", "staying", "unknown")),
                    age_band=rng.choice(("5-11", "12-17", "18-29", "30-49", "30-49")),
                    needs=needs, vulnerabilities=vulnerable)
        db.session.add(case)
        made.append((case.id, services))
    return made


def run(label: str, url: str, workdir: Path) -> None:
    """Build the directory at `url`, time rank() for every case, print the figures."""
    rng = random.Random(20261122)
    app = create_app({"SECRET_KEY": "bench-secret-key", "DATABASE_URL": url,
                      "KEYRING": str(workdir / "keyring.json"), "INSTANCE_PATH": str(workdir)})
    with app.app_context():
        try:
            db.create_all()
            started = time.perf_counter()
            cases = build_cases(rng, build_directory(rng))
            db.session.commit()
            built = time.perf_counter() - started
            timings, returned = [], []
            for case_id, services in cases:
                db.session.expunge_all()  # each ranking starts cold, as in a request
                case = db.session.get(Case, case_id)
                started = time.perf_counter()
                options = routing.rank(db.session, case, services, now=NOW)
                timings.append((time.perf_counter() - started) * 1000)
                returned.append(len(options))
                db.session.rollback()
        finally:
            db.session.remove()
            db.engine.dispose()
    print(f"{label}: {FACILITIES} facilities and {CASES} cases built in {built:.1f} s; "
          f"{statistics.mean(returned):.1f} options per case")
    cuts = statistics.quantiles(timings, n=100)
    for name, measured in (("p50", statistics.median(timings)), ("p95", cuts[94])):
        target = TARGETS_MS[name]
        flag = "" if measured <= target else "  OVER TARGET"
        print(f"routing.rank {label} {name}  {measured:6.1f} ms  <= {target:.0f} ms{flag}")


def run_postgres(workdir: Path) -> None:
    with scratch_postgres(PG_URL, "referral_bench") as url:
        if url is None:
            print(f"routing.rank postgresql  skipped: no PostgreSQL server answers at {PG_URL}")
            return
        run("postgresql", url, workdir)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="referral-bench-") as tmp:
        workdir = Path(tmp)
        Keyring.create(workdir / "keyring.json")
        run("sqlite", "sqlite:///" + str(workdir / "bench.sqlite3"), workdir)
        run_postgres(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
