"""Statistics counts: every table agrees with a count made record by record."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from referral.extensions import db
from referral.models import Facility
from referral.models.codes import NEEDS, VULNERABILITIES
from referral.services import aggregates, periods
from referral.services.aggregates import Period
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    SubjectFactory,
)

OCTOBER = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
STATES = ("pending", "accepted", "declined", "expired", "cancelled", "completed", "no_show")


@pytest.fixture
def records(session):
    """Cases and referrals in October, some just outside it, with every kind of value."""
    rng = random.Random(7)
    posts = [BorderPostFactory(country=c) for c in ("SV", "GT", "MX")]
    clinics = [FacilityFactory(services=["primary_care", "gbv_care", "shelter"])
               for _ in range(2)]
    cases, referrals = [], []
    for index in range(60):
        inside = index % 10 != 0
        at = OCTOBER.start + timedelta(hours=rng.randrange(0, 31 * 24)) if inside else (
            OCTOBER.end + timedelta(minutes=index) if index % 20 else
            OCTOBER.start - timedelta(seconds=1))
        subject = SubjectFactory(sex=rng.choice(["female", "male"]),
                                 nationality=rng.choice(["HN", "GT", "VE", None]))
        case = CaseFactory(facility=rng.choice(posts), subject=subject, created_at=at,
                           age_band=rng.choice(["12-17", "18-29", "30-49"]),
                           urgency=rng.choice(["urgent", "routine"]),
                           needs=rng.sample(NEEDS, rng.randrange(0, 3)),
                           vulnerabilities=rng.sample(VULNERABILITIES, rng.randrange(0, 2)))
        cases.append(case)
        if index % 2:
            referrals.append(_referral(rng, case, rng.choice(clinics), at))
    return cases, referrals


def _referral(rng, case, clinic, at):
    status = rng.choice(STATES)
    respond = at + timedelta(days=rng.choice([1, 40]))  # inside October, or after it
    close = respond + timedelta(days=rng.choice([0, 2, 45]))
    referral = ReferralFactory(case=case, to_facility=clinic, status=status, created_at=at,
                               urgency=rng.choice(["emergency", "routine"]),
                               services=rng.sample(["primary_care", "gbv_care", "shelter"],
                                                   rng.randrange(1, 3)))
    referral.responded_at = respond if status in ("accepted", "declined", "completed",
                                                  "no_show", "cancelled") else None
    referral.closed_at = (respond if status == "declined" else close) if status not in (
        "pending", "accepted") else None
    if status == "expired":
        referral.responded_at = None
    db.session.flush()
    return referral


def status_at_end(referral, end):
    if referral.closed_at is not None and referral.closed_at < end:
        return referral.status
    if referral.responded_at is not None and referral.responded_at < end:
        return "accepted"
    return "pending"


def values(record, name, metric, end):
    """The values one record has for one dimension, counted by hand."""
    case = record if metric == "cases" else record.case
    by_name = {
        "intake_facility": [str(case.facility_id)],
        "country": [db.session.get(Facility, case.facility_id).country],
        "need": case.needs, "vulnerability": case.vulnerabilities,
        "urgency": [record.urgency],
    }
    if metric == "referrals":
        by_name |= {"service": record.services, "to_facility": [str(record.to_facility_id)],
                    "referral_status": [status_at_end(record, end)]}
    return by_name.get(name) or ([] if name in aggregates.MULTI_VALUED
                                 else [getattr(case, name)])


def by_hand(rows, table):
    counted = Counter()
    for row in rows:
        for combo in product(*(row[name] for name in table)):
            counted[combo] += 1
    return dict(counted)


@pytest.mark.parametrize("metric", aggregates.METRICS)
def test_every_table_matches_a_count_made_record_by_record(records, metric):
    cases, referrals = records
    counted = aggregates.count_all(db.session, metric, OCTOBER)
    assert set(counted) == set(aggregates.tables(metric))
    rows = [{name: values(record, name, metric, OCTOBER.end)
             for name in aggregates.DIMENSIONS[metric]}
            for record in (cases if metric == "cases" else referrals)
            if OCTOBER.start <= record.created_at < OCTOBER.end]
    assert 20 < len(rows) < 60
    for table, counts in counted.items():
        assert counts == by_hand(rows, table), table


def test_the_tables_a_manager_can_ask_for():
    assert len(aggregates.tables("cases")) == 1 + 9 + 36 + 84
    assert len(aggregates.tables("referrals")) == 1 + 12 + 66 + 220
    assert ("need", "vulnerability", "service") in aggregates.tables("referrals")


def test_a_referral_counts_with_the_status_it_had_at_the_end_of_the_period(session):
    case = CaseFactory(created_at=OCTOBER.start + timedelta(days=3))
    ReferralFactory(case=case, status="completed", created_at=OCTOBER.start + timedelta(days=3),
                    responded_at=OCTOBER.end - timedelta(days=1),
                    completed_at=OCTOBER.end + timedelta(days=2),
                    closed_at=OCTOBER.end + timedelta(days=2))
    counted = aggregates.count_all(db.session, "referrals", OCTOBER)
    assert counted[("referral_status",)] == {("accepted",): 1}
    november = Period(OCTOBER.end, datetime(2026, 12, 1, tzinfo=UTC))
    assert aggregates.count_all(db.session, "referrals", november)[("referral_status",)] == {}


@pytest.mark.parametrize("metric", aggregates.METRICS)
def test_every_additive_line_sums_to_its_margin(records, metric):
    counted = aggregates.count_all(db.session, metric, OCTOBER)
    cell = {("2026-10", table, values): count
            for table, counts in counted.items() for values, count in counts.items()}
    lines = list(aggregates.additive_lines("2026-10", counted))
    assert lines
    for total, parts in lines:
        assert cell.get(total, 0) == sum(cell[part] for part in parts), total
        assert all(name not in aggregates.MULTI_VALUED
                   for name in set(total[1]) ^ set(parts[0][1]))
    # A multi-valued dimension is never summed away.
    assert not [t for t, parts in lines if t[1] == () and parts[0][1] == ("need",)]


def test_months_sum_to_their_quarter_except_referral_statuses(session):
    months = [Period(datetime(2026, m, 1, tzinfo=UTC), datetime(2026, m + 1, 1, tzinfo=UTC))
              for m in (7, 8, 9)]
    quarter = Period(months[0].start, months[-1].end)
    for index, month in enumerate(months):
        case = CaseFactory(created_at=month.start + timedelta(days=index + 1))
        ReferralFactory(case=case, created_at=case.created_at, status="accepted",
                        responded_at=month.end + timedelta(days=1))
    children = {f"2026-{m.start.month:02d}": aggregates.count_all(db.session, "referrals", m)
                for m in months}
    parent = aggregates.count_all(db.session, "referrals", quarter)
    cell = {(key, table, values): count
            for key, counted in (*children.items(), ("2026-Q3", parent))
            for table, counts in counted.items() for values, count in counts.items()}
    lines = list(aggregates.period_lines("quarter", "2026-Q3", parent, children))
    for total, parts in lines:
        assert cell[total] == sum(cell[part] for part in parts)
    assert not [total for total, _ in lines if "referral_status" in total[1]]
    # Why: each month ends with its referral pending; the quarter ends with two accepted.
    assert parent[("referral_status",)] == {("accepted",): 2, ("pending",): 1}


def test_parts_sum_to_their_month_statuses_included(session):
    # Statuses of a part are taken at the end of its month, so a month's are the sums of
    # its parts', where a week's, taken at its own end, are not.
    july = periods.from_key("month", "2026-07")
    for day in (3, 9, 30):
        made = datetime(2026, 7, day, 10, tzinfo=UTC)
        ReferralFactory(case=CaseFactory(created_at=made), created_at=made, status="accepted",
                        responded_at=made + timedelta(days=4))
    parts = {p.key: aggregates.count_all(db.session, "referrals",
                                         Period(p.start, p.end, p.as_of))
             for p in july.children()}
    month = aggregates.count_all(db.session, "referrals", Period(july.start, july.end))
    lines = list(aggregates.period_lines("month", july.key, month, parts))
    assert sorted(total for total, _ in lines if total[1] == ("referral_status",)) == [
        (july.key, ("referral_status",), ("accepted",)),
        (july.key, ("referral_status",), ("pending",))]
    cell = {(key, table, values): count
            for key, counted in (*parts.items(), (july.key, month))
            for table, counts in counted.items() for values, count in counts.items()}
    for total, parts_of_total in lines:
        assert cell[total] == sum(cell[part] for part in parts_of_total)
    assert month[("referral_status",)] == {("accepted",): 2, ("pending",): 1}
    week = periods.from_key("week", "2026-W28")  # 6-12 July: the one of the 9th
    at_week_end = aggregates.count_all(db.session, "referrals", Period(week.start, week.end))
    assert at_week_end[("referral_status",)] == {("pending",): 1}
