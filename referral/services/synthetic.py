"""Synthetic cases, referrals and follow-ups in bulk (`flask synthetic`, API.md).

Content comes from a seeded random source, so a seed gives the same people, cases,
referrals and ids on the same directory at the same `now`; what must be secret or
unguessable stays truly random: data keys, nonces, pseudonyms and slip codes. Records
are created inside the finished months asked for (they count in the period they reached
the server); people act until the start of the day of the run, the scheduled jobs
(expiry, overdue follow-ups) until `now`, so every state agrees with the clock.

Personal fields are sealed with the crypto service under each subject's own data key
(synthetic_rows), and the blind index is computed as intake computes it, so duplicate
detection and POST /subjects/match treat synthetic people like real ones.
synthetic_writer puts the rows in, a batch of whole cases per transaction, and
synthetic_pipeline draws the next batch meanwhile.
"""

import math
import random
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Conflict, Invalid
from referral.models import Case, StatsRelease, Subject
from referral.models.codes import REFERRAL_STATUSES
from referral.services import audit, crypto, duplicates, intake, referrals, synthetic_pipeline
from referral.services import synthetic_draws as draws
from referral.services.synthetic_directory import Directory, Place
from referral.services.synthetic_fates import DAY, HOUR
from referral.services.synthetic_referrals import Referrer
from referral.services.synthetic_rows import (
    IDENTITY,
    CaseNeedRow,
    CaseRow,
    CaseVulnerabilityRow,
    ConsentRow,
    DataKeyRow,
    Rows,
    SubjectRow,
    ordered_id,
    seal,
)
from referral.services.synthetic_writer import Writer, bulk_settings

BATCH_SIZE = 5000
POOL_SIZE = 4000  # recent people a returning person is drawn from
RETURNING = 0.06
CAPTURED_OFFLINE = 0.15  # intakes recorded on a tablet offline and synced later
LOCAL_HOURS = (6, 21, 11)  # intakes by day, local time (triangular: from, to, peak)
UTC_OFFSET_H = 6  # Central America and Chiapas


@dataclass
class Summary:
    """What a run added: counts only."""

    cases: int = 0
    subjects: int = 0
    referrals: Counter = field(default_factory=Counter)
    follow_ups: int = 0
    months: list = field(default_factory=list)

    def counts(self) -> dict:
        return {"cases": self.cases, "subjects": self.subjects,
                "referrals": {state: self.referrals[state] for state in REFERRAL_STATUSES},
                "follow_ups": self.follow_ups, "months": len(self.months)}


def _refuse_released_periods(session: Session, start: datetime, end: datetime) -> None:
    """Records written into a released period would change what it published."""
    released = session.execute(
        sa.select(StatsRelease.period, StatsRelease.period_key)
        .where(StatsRelease.starts_at < end, StatsRelease.ends_at > start)
        .order_by(StatsRelease.starts_at).limit(1)).first()
    if released is not None:
        raise Conflict(f"statistics of {released[0]} {released[1]} are released already: "
                       "synthetic records in those months would change finished periods "
                       "(use a database with no releases there)")


def finished_months(now: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The last `count` calendar months that ended before the current one (UTC)."""
    end = datetime(now.year, now.month, 1, tzinfo=UTC)
    spans = []
    for _ in range(count):
        start = (end - timedelta(days=1)).replace(day=1)
        spans.append((start, end))
        end = start
    return spans[::-1]


def moments(rng: random.Random, spans, count: int):
    """`count` arrival times over the months, in order: daytime, a little seasonal."""
    weights = [(1 + 0.2 * math.cos(2 * math.pi * (start.month - 2) / 12))
               * rng.uniform(0.85, 1.15) for start, _ in spans]
    per_month = Counter(rng.choices(range(len(spans)), weights, k=count))
    for index, (start, end) in enumerate(spans):
        span = int((end - start).total_seconds())
        days = span // 86400
        seconds = sorted(int((rng.randrange(days) * 24 + rng.triangular(*LOCAL_HOURS)
                              + UTC_OFFSET_H) * 3600) % span for _ in range(per_month[index]))
        for offset in seconds:
            yield start + timedelta(seconds=offset)


class Builder:
    """Draws cases one at a time into rows; the Writer puts them in the database."""

    def __init__(self, directory: Directory, *, seed: int, now: datetime, spans, ring):
        self.directory, self.ring, self.spans = directory, ring, spans
        self.rng = random.Random(seed)
        self.cutoff = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.rows = Rows()
        self.pool: list[draws.Person] = []
        self.summary = Summary(months=[f"{start:%Y-%m}" for start, _ in spans])
        self._emit = self.rows.add
        self.referrer = Referrer(directory, self.rng, self._emit, period_end=spans[-1][1],
                                 cutoff=self.cutoff, now=now, counts=self.summary)

    def batches(self, count: int, size: int):
        """The rows of `count` cases, `size` cases at a time."""
        for at in moments(self.rng, self.spans, count):
            self.add_case(at)
            if self.rows.cases >= size:
                yield self.rows.take()
        if self.rows.cases:
            yield self.rows.take()

    def _subject(self, person: draws.Person, fields: dict, place: Place, at: datetime) -> None:
        person.id, person.facility_id = ordered_id(self.rng, at), place.id
        person.dek, row_id = crypto.new_data_key(), str(person.id)
        kek_id, wrapped = self.ring.wrap(person.dek, row_id)
        sealed = {name: seal(person.dek, Subject, name, row_id, fields[name])
                  for name in IDENTITY}
        self._emit(SubjectRow(
            id=person.id, created_at=at, pseudonym=None, sex=person.sex,
            nationality=person.nationality, languages=person.languages,
            match_key=duplicates.key_of(fields), created_facility_id=place.id, **sealed))
        self._emit(DataKeyRow(subject_id=person.id, kek_id=kek_id, wrapped=wrapped,
                              created_at=at))
        if len(self.pool) < POOL_SIZE:
            self.pool.append(person)
        else:
            self.pool[self.rng.randrange(POOL_SIZE)] = person
        self.summary.subjects += 1

    def _person(self, at: datetime) -> tuple[draws.Person, Place]:
        rng = self.rng
        if self.pool and rng.random() < RETURNING:
            person = self.pool[rng.randrange(len(self.pool))]
            if person.created_at < at:
                place = (self.directory.by_id[person.facility_id] if rng.random() < 0.7
                         else self.directory.intake.draw(rng))
                return person, place
        place = self.directory.intake.draw(rng)
        person, fields = draws.new_person(rng, place.country, at)
        self._subject(person, fields, place, at)
        return person, place

    def add_case(self, at: datetime) -> None:
        """One intake at `at`, with its consent, needs, referrals and follow-ups."""
        rng = self.rng
        person, place = self._person(at)
        captured = (at - timedelta(minutes=rng.randint(15, 480))
                    if rng.random() < CAPTURED_OFFLINE else None)
        age = person.age_on((captured or at).date())
        needs, vulnerabilities = draws.situation(rng, person.sex, age)
        details = draws.circumstances(rng, person, age, needs, vulnerabilities, place.country)
        case_id, consent_id = ordered_id(rng, at), ordered_id(rng, at)
        self._emit(ConsentRow(
            id=consent_id, created_at=at, subject_id=person.id, data_collection=True,
            referral_sharing=details["referral_sharing"],
            follow_up_contact=details["follow_up_contact"], method=details["method"],
            given_by=details["given_by"]))
        view = SimpleNamespace(id=case_id, facility_id=place.id, sex=person.sex,
                               age_band=intake.age_band(age), needs=needs,
                               vulnerabilities=vulnerabilities, urgency=details["urgency"])
        made = (self.referrer.refer(view, person, place, at, details["follow_up_contact"])
                if details["referral_sharing"] else [])
        status, updated, closed = self._case_status(at, made)
        self._emit(CaseRow(
            id=case_id, created_at=at, subject_id=person.id, facility_id=place.id,
            consent_id=consent_id, status=status, urgency=details["urgency"],
            travel_direction=details["travel_direction"], sex=person.sex,
            nationality=person.nationality, age_band=view.age_band,
            notes=seal(person.dek, Case, "notes", str(case_id), details["notes"]),
            captured_at=captured, updated_at=updated, closed_at=closed))
        for code in needs:
            self._emit(CaseNeedRow(case_id, code))
        for code in vulnerabilities:
            self._emit(CaseVulnerabilityRow(case_id, code))
        self.rows.cases += 1
        self.summary.cases += 1

    def _case_status(self, at: datetime, made: list) -> tuple:
        """Referred while a referral is live or done, open again when none is (as the
        referral service leaves it); closed by hand now and then, after its referrals end."""
        rng = self.rng
        status, updated = "open", None
        if made:
            live = any(f.status in referrals.OPENS_CASE for _, f in made)
            status = "referred" if live else "open"
            updated = max([created for created, _ in made] + [
                f.closed_at for _, f in made if f.status not in referrals.OPENS_CASE])
        if status == "referred" and any(f.closed_at is None for _, f in made):
            return status, updated, None
        chance = {"open": 0.55 if not made else 0.3, "referred": 0.4}[status]
        finished = max([updated or at] + [f.closed_at for _, f in made])  # all referrals
        closed = finished + HOUR + 15 * DAY * rng.random()
        if rng.random() < chance and closed <= self.cutoff:
            return "closed", closed, closed
        return status, updated, None


def _refuse_a_seed_used_before(session: Session, first_case_id, seed: int) -> None:
    """A seed gives the same ids: its data cannot go in twice."""
    if session.scalar(sa.select(Case.id).where(Case.id == first_case_id)):
        raise Conflict(f"the data of seed {seed} is in this database already; "
                       "choose another --seed")


def add(session: Session, *, cases: int, months: int = 12, seed: int, now: datetime,
        directory: Directory | None = None, batch_size: int = BATCH_SIZE,
        parallel: bool | None = None, between_batches=None, progress=None) -> Summary:
    """Add `cases` synthetic cases over the last `months` finished months, a batch at a
    time (`between_batches()` after each, to commit); audited once, with counts only.

    Unless `parallel` is False, a run of several batches draws the next batch in a child
    process while this one writes, where there are two cores and fork."""
    if cases < 1 or months < 1 or batch_size < 1:
        raise Invalid("cases, months and the batch size must be at least 1")
    directory = directory or Directory.load(session)
    spans = finished_months(now, months)
    _refuse_released_periods(session, spans[0][0], spans[-1][1])
    builder = Builder(directory, seed=seed, now=now, spans=spans, ring=crypto.keyring())
    writer = Writer(session)
    in_child = parallel is not False and synthetic_pipeline.can_fork()
    batches = synthetic_pipeline.prepared_batches(builder, writer.prepare, cases, batch_size,
                                                  in_child=in_child)
    with bulk_settings(session), closing(batches):  # closing stops a child still drawing
        for number, batch in enumerate(batches):
            if number == 0:
                _refuse_a_seed_used_before(session, batch.first_case_id, seed)
            written = writer.write(batch)
            if between_batches is not None:
                between_batches()
            if progress is not None:
                progress(written)
    summary = builder.summary
    audit.record(session, "synthetic_data_added", object_type="case", now=now,
                 detail=summary.counts())
    return summary
