"""The intruder: every table of every finished period, attacked together, exposes no one.

On a quarter with rare people planted among common ones, every table of up to three
dimensions is requested at every period level, then attacked all at once as DESIGN.md
says an intruder would: iterative elimination, then the LP minimum and maximum of every
suppressed small count. The intruder also knows the referral lifecycle of API.md, and
reasons with how many referrals moved between statuses from a month's end to its
quarter's (`lifecycle`); and that a week straddling two months holds a share of each
(`weeks_and_months`). Later intakes, late syncs, status changes and an erasure leave
every finished period's answers as they were.

Written apart from referral/services/aggregates.py and disclosure*.py: true counts come
from plain columns read here, and the intruder's relations from the published answers.
"""

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import combinations, product

import pytest
import sqlalchemy as sa

from referral.blueprints.api import cases as cases_view
from referral.blueprints.api import referrals as referrals_view
from referral.blueprints.api import stats as stats_view
from referral.blueprints.api import subjects as subjects_view
from referral.blueprints.api import sync as sync_view
from referral.models import Case, CaseNeed, CaseVulnerability, Facility, Referral
from referral.models.referral import ReferralService
from referral.services import aggregates, reports, stats
from referral.services.periods import containing
from tests import intruder
from tests.api.test_cases import intake_body
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    SubjectFactory,
    UserFactory,
)
from tests.intruder import Intruder

pytestmark = pytest.mark.slow

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
K = intruder.K
KINDS = ("week", "month", "quarter", "year")
# API.md, Statistics: the dimensions in their canonical order; three are multi-valued.
CASE_DIMENSIONS = ("intake_facility", "country", "nationality", "sex", "age_band", "need",
                   "urgency", "vulnerability", "travel_direction")
DIMENSIONS = {"cases": CASE_DIMENSIONS,
              "referrals": (*CASE_DIMENSIONS, "service", "referral_status", "to_facility")}
MULTI_VALUED = {"need", "vulnerability", "service"}
# API.md, Referrals: the lifecycle. A status at one period's end is this one, or a later one
# at the next period's end.
STATUSES = ("pending", "accepted", "declined", "expired", "cancelled", "completed", "no_show")
LATER = {"pending": ("accepted", "declined", "expired", "cancelled", "completed", "no_show"),
         "accepted": ("completed", "no_show", "cancelled")}
TABLES = {metric: [table for size in range(4) for table in combinations(names, size)]
          for metric, names in DIMENSIONS.items()}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    for view in (stats_view, cases_view, sync_view, referrals_view, subjects_view):
        monkeypatch.setattr(view, "now", lambda: NOW)


def at(month, day, hour=10):
    return datetime(2025, month, day, hour, tzinfo=UTC)


@pytest.fixture
def planted(session):
    """2025 Q4 at two posts: common people, and rare ones planted among them."""
    rng = random.Random(11)
    # Fixed ids: cells hold facility ids, and the order of cells breaks ties in protection.
    post_a = BorderPostFactory(id=uuid.UUID(int=1), code="BP-GT-TECUN", country="GT")
    post_b = BorderPostFactory(id=uuid.UUID(int=2), code="BP-MX-HIDALGO", country="MX")
    clinic = FacilityFactory(id=uuid.UUID(int=3), code="CL-MX-TAPACHULA", country="MX")
    hospital = FacilityFactory(id=uuid.UUID(int=4), code="HO-MX-TAPACHULA", kind="hospital",
                               country="MX")
    shelter = FacilityFactory(id=uuid.UUID(int=5), code="SH-MX-REFUGIO", kind="shelter",
                              country="MX")

    def case(when, *, post=post_a, nationality="HN", sex="female", **attrs):
        subject = SubjectFactory(nationality=nationality, sex=sex)
        return CaseFactory(facility=post, subject=subject, created_at=when, **attrs)

    def refer(made, created, status, *, to=clinic, responded=None, closed=None, **attrs):
        final = status not in ("pending", "accepted")
        return ReferralFactory(
            case=made, to_facility=to, created_at=created, status=status,
            responded_at=responded, closed_at=closed if final else None,
            completed_at=closed if status in ("completed", "no_show") else None,
            expires_at=(NOW if status == "pending" else created) + timedelta(days=2),
            services=attrs.pop("services", ["primary_care"]), **attrs)

    common = []  # mostly one profile, so its cells pass K and are published
    for month in (10, 11, 12):
        for index in range(16):
            made = case(at(month, 1 + index * 29 // 16, 8 + index % 9),
                        post=post_a if rng.random() < 0.8 else post_b,
                        nationality="HN" if rng.random() < 0.75 else "GT",
                        sex="female" if rng.random() < 0.7 else "male",
                        age_band="18-29" if rng.random() < 0.65 else "30-49",
                        needs=["acute_illness"] if rng.random() < 0.8 else ["injury"],
                        urgency="routine" if rng.random() < 0.8 else "urgent",
                        vulnerabilities=[] if rng.random() < 0.85 else ["pregnant"],
                        travel_direction="northbound")
            common.append(made)
            if index % 2 == 1:
                created = made.created_at + timedelta(hours=2)
                status = "completed" if rng.random() < 0.75 else "declined"
                refer(made, created, status, to=clinic if rng.random() < 0.75 else hospital,
                      responded=created + timedelta(days=1), closed=created + timedelta(days=2),
                      urgency=made.urgency)
    # A single person of a rare nationality, at one post, in one month.
    rare = case(at(11, 14), post=post_b, nationality="CM", sex="male", age_band="18-29",
                needs=["injury"])
    # A lone minor with a rare need, referred to the only shelter for a rare service.
    minor = case(at(10, 21), sex="male", age_band="12-17", needs=["trafficking"],
                 vulnerabilities=["unaccompanied_minor"], urgency="urgent")
    refer(minor, at(10, 21, 12), "declined", to=shelter, responded=at(10, 22),
          closed=at(10, 22), services=["trafficking_protection"], urgency="emergency")
    # Two people of another rare nationality, in two months; one intersex person; one
    # elderly man travelling south.
    for month, day in ((10, 3), (12, 30)):
        case(at(month, day), nationality="HT", age_band="30-49")
    case(at(12, 9), post=post_b, sex="intersex", age_band="18-29", needs=["mental_health"])
    elder = case(at(12, 29), nationality="GT", sex="male", age_band="50+",
                 needs=["chronic_condition"], vulnerabilities=["elderly"],
                 travel_direction="southbound")
    # Statuses that change across month ends, and referrals still pending now.
    refer(common[1], at(10, 30), "completed", to=hospital, responded=at(11, 3),
          closed=at(12, 2))
    refer(common[12], at(11, 29), "expired", closed=at(12, 1))
    refer(common[14], at(11, 27), "cancelled", responded=at(11, 28), closed=at(12, 3))
    refer(common[21], at(12, 20), "no_show", responded=at(12, 21), closed=at(12, 28))
    refer(common[27], at(12, 31, 20), "accepted", responded=datetime(2026, 1, 2, tzinfo=UTC))
    pending = [refer(made, made.created_at + timedelta(hours=1), "pending", to=hospital)
               for made in (common[23], common[25], common[29], elder)]
    return {"posts": (post_a, post_b), "clinic": clinic, "hospital": hospital,
            "rare": rare, "minor": minor, "pending": pending}


# Rare people planted above, as the cells they are alone in (fewer than K in the quarter).
RARE = [
    ("cases", {"nationality": "CM"}),
    ("cases", {"nationality": "HT"}),
    ("cases", {"age_band": "12-17"}),
    ("cases", {"need": "trafficking"}),
    ("cases", {"vulnerability": "unaccompanied_minor"}),
    ("cases", {"sex": "intersex"}),
    ("cases", {"age_band": "50+"}),
    ("cases", {"travel_direction": "southbound"}),
    ("referrals", {"to_facility": "SH-MX-REFUGIO"}),
    ("referrals", {"service": "trafficking_protection"}),
    ("referrals", {"urgency": "emergency"}),
    ("referrals", {"nationality": "GT", "referral_status": "pending", "age_band": "50+"}),
]


# --- the answers ------------------------------------------------------------------------

def first_of(kind):
    return containing(kind, datetime(2025, 1, 1, tzinfo=UTC))


def every_answer(session, user):
    """Every table of both metrics at every period level, from 2025 to the last finished."""
    return {(metric, kind, table): reports.answer(
                session, reports.Query(metric=metric, period=kind, group_by=table,
                                       first=first_of(kind)), user=user, now=NOW, k=K)
            for kind in KINDS for metric in TABLES for table in TABLES[metric]}


def published_cells(answers):
    """{(metric, period key, table, values): count, None when suppressed}, and the
    period keys of each kind."""
    cells, keys = {}, {}
    for (metric, kind, table), body in answers.items():
        keys[kind] = body["periods"]
        if not table:
            for row in body["totals"]:
                cells[(metric, row["period"], (), ())] = row["count"]
            continue
        for row in body["rows"]:
            cells[(metric, row["period"], table, tuple(row[n] for n in table))] = row["count"]
    return cells, keys


# --- the truth, from plain columns ------------------------------------------------------

def window(kind, key):
    """[start, end) of a period from its key, in UTC."""
    year = int(key[:4])
    if kind == "week":
        start = date.fromisocalendar(year, int(key[6:]), 1)
        end = start + timedelta(days=7)
    elif kind == "year":
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
    else:
        first = int(key[5:]) if kind == "month" else 3 * int(key[6:]) - 2
        months = 1 if kind == "month" else 3
        start = date(year, first, 1)
        end = date(year + (first + months > 12), (first + months - 1) % 12 + 1, 1)
    return (datetime(start.year, start.month, start.day, tzinfo=UTC),
            datetime(end.year, end.month, end.day, tzinfo=UTC))


def status_at(referral, end):
    """A referral's status at the end of a period, from its lifecycle timestamps."""
    if referral.closed_at is not None and referral.closed_at < end:
        return referral.status
    if referral.responded_at is not None and referral.responded_at < end:
        return "accepted"
    return "pending"


def true_counts(session, keys):
    """The true count of every non-zero cell of every table in the periods of `keys`."""
    codes = defaultdict(list)
    for model, owner in ((CaseNeed, "need"), (CaseVulnerability, "vulnerability"),
                         (ReferralService, "service")):
        owner_id = model.case_id if owner != "service" else model.referral_id
        for row_id, code in session.execute(sa.select(owner_id, model.code)):
            codes[(owner, row_id)].append(code)
    facilities = {fid: (code, country) for fid, code, country in session.execute(
        sa.select(Facility.id, Facility.code, Facility.country))}
    plain, records = {}, []
    for case in session.execute(sa.select(Case.__table__)).mappings():
        code, country = facilities[case["facility_id"]]
        plain[case["id"]] = values = {
            "intake_facility": [code], "country": [country],
            "need": codes[("need", case["id"])],
            "vulnerability": codes[("vulnerability", case["id"])],
            **{name: [case[name]] for name in ("nationality", "sex", "age_band", "urgency",
                                               "travel_direction")}}
        records.append(("cases", case["created_at"], lambda end, v=values: v))
    for referral in session.execute(sa.select(Referral.__table__)).all():
        def values_at(end, r=referral):
            return {**plain[r.case_id], "urgency": [r.urgency],
                    "service": codes[("service", r.id)],
                    "to_facility": [facilities[r.to_facility_id][0]],
                    "referral_status": [status_at(r, end)]}
        records.append(("referrals", referral.created_at, values_at))
    counts = defaultdict(int)
    for kind in KINDS:
        for key in keys[kind]:
            start, end = window(kind, key)
            for metric, received, values_at in records:
                if start <= received.replace(tzinfo=UTC) < end:
                    values = values_at(end)
                    for table in TABLES[metric]:
                        for combo in product(*(values[name] for name in table)):
                            counts[(metric, key, table, combo)] += 1
                    month = f"{received:%Y-%m}"
                    if kind == "week" and len(months_of(key)) == 2:
                        for table in TABLES[metric]:
                            if "referral_status" not in table:
                                for combo in product(*(values[name] for name in table)):
                                    counts[share(key, month, metric, table, combo)] += 1
                    for child in children_of(kind, key) if metric == "referrals" else ():
                        child_start, child_end = window(CHILD[kind], child)
                        if child_start <= received.replace(tzinfo=UTC) < child_end:
                            moved = (values_at(child_end)["referral_status"][0],
                                     values["referral_status"][0])
                            for margin in MARGINS:
                                for combo in product(*(values[name] for name in margin)):
                                    counts[flow(key, child, margin, combo, *moved)] += 1
    return dict(counts)


# --- the intruder -----------------------------------------------------------------------

CHILD = {"quarter": "month", "year": "quarter"}
# The tables with referral_status, by what is left without it.
MARGINS = [table for table in TABLES["referrals"] if len(table) < 3
           and "referral_status" not in table]


def flow(parent, child, margin, values, before, after):
    """A latent count: the referrals of `child` with `values` in `margin` that had status
    `before` at its end and `after` at the end of `parent`."""
    return ("flow", parent, child, margin, values, before, after)


def with_status(margin, values, status):
    """The cell of the table `margin` + referral_status, in the canonical order."""
    table = tuple(n for n in DIMENSIONS["referrals"] if n in margin or n == "referral_status")
    at_ = table.index("referral_status")
    return ("referrals", table, values[:at_] + (status,) + values[at_:])


def lifecycle(cells, keys):
    """What the lifecycle tells an intruder: the referrals of a month (a quarter) with a
    status at its end have that status, or a later one, at the end of its quarter (year),
    the same one for the last month (quarter); a referral counts in the month (quarter)
    where it reached the server, so a quarter's (year's) status cells add up the moves of
    its months' (quarters') referrals. Returns the relations and the latent counts."""
    lines, latent = [], set()
    listed = defaultdict(set)  # (period key, margin) -> values with a status cell listed
    for metric, key, table, values in cells:
        if metric == "referrals" and "referral_status" in table:
            at_ = table.index("referral_status")
            margin = table[:at_] + table[at_ + 1:]
            listed[(key, margin)].add(values[:at_] + values[at_ + 1:])
    for kind in ("quarter", "year"):
        for key in keys[kind]:
            inside = children_of(kind, key)
            for margin in MARGINS:
                for values in set().union(*(listed[(p, margin)] for p in (key, *inside))):
                    into = defaultdict(list)
                    for child in inside:
                        for before in STATUSES:
                            after = (before,) + (LATER.get(before, ()) if child != inside[-1]
                                                 else ())
                            moves = [flow(key, child, margin, values, before, a)
                                     for a in after]
                            latent.update(moves)
                            metric, table, cell = with_status(margin, values, before)
                            lines.append(((metric, child, table, cell), moves))
                            for move in moves:
                                into[move[-1]].append(move)
                    for status in STATUSES:
                        metric, table, cell = with_status(margin, values, status)
                        lines.append(((metric, key, table, cell), into[status]))
    # The moves of a margin's cell are the sums of those of the larger margin's cells.
    summed = defaultdict(list)  # (parent, child, margin, values, move, summed over) -> parts
    for key in latent:
        _, parent, child, margin, values, before, after = key
        for cut, name in enumerate(margin):
            if name not in MULTI_VALUED:
                summed[(parent, child, margin[:cut] + margin[cut + 1:],
                        values[:cut] + values[cut + 1:], before, after, name)].append(key)
    for total in (key for key in latent if len(key[3]) < 2):
        _, parent, child, margin, values, before, after = total
        for name in DIMENSIONS["referrals"]:
            if name in margin or name in MULTI_VALUED or name == "referral_status":
                continue
            lines.append((total, summed[(parent, child, margin, values, before, after, name)]))
    return lines, latent


def children_of(kind, key):
    """The months of a quarter, the quarters of a year; weeks and months have none here."""
    if kind == "quarter":
        first = 3 * int(key[6:]) - 2
        return [f"{key[:4]}-{month:02d}" for month in range(first, first + 3)]
    if kind == "year":
        return [f"{key}-Q{quarter}" for quarter in range(1, 5)]
    return []


def months_of(week):
    """The months an ISO week has days in: one, or two where it straddles them."""
    start, end = window("week", week)
    return sorted({f"{start:%Y-%m}", f"{end - timedelta(days=1):%Y-%m}"})


def share(week, month, metric, table, values):
    """A latent count: the records of `week` received in `month`, where it straddles two."""
    return ("share", week, month, metric, table, values)


def weeks_and_months(cells, keys):
    """What an intruder makes of weeks and months together: a month's cell is the sum of
    those of the weeks inside it and of its share of each week it has in common with the
    month before or after; a straddling week's cell is the sum of its two shares, and the
    shares add up along a table's dimensions as any cells do. Not by referral status: a
    week's statuses are taken at its end, a month's at its end, and a week's are all
    suppressed (README, Statistics). Returns the relations and the latent shares."""
    listed = defaultdict(set)  # (metric, period key, table) -> values listed
    for metric, key, table, values in cells:
        listed[(metric, key, table)].add(values)
    inside = defaultdict(list)  # month -> (week, straddles)
    for week in keys["week"]:
        for month in months_of(week):
            inside[month].append((week, len(months_of(week)) == 2))
    lines, latent = [], set()
    for metric in TABLES:
        for table in (t for t in TABLES[metric] if "referral_status" not in t):
            for week in keys["week"]:
                if len(months_of(week)) == 2:
                    for values in set().union(*(listed[(metric, p, table)]
                                                for p in (week, *months_of(week)))):
                        shares = [share(week, month, metric, table, values)
                                  for month in months_of(week)]
                        latent.update(shares)
                        lines.append(((metric, week, table, values), shares))
            for month in keys["month"]:
                weeks = inside[month]
                for values in set().union(*(listed[(metric, p, table)]
                                            for p in (month, *(w for w, _ in weeks)))):
                    lines.append(((metric, month, table, values), [
                        share(week, month, metric, table, values) if straddles
                        else (metric, week, table, values) for week, straddles in weeks]))
                    latent.update(share(week, month, metric, table, values)
                                  for week, straddles in weeks if straddles)
    # A share's cells add up to its margins, as any table's.
    summed = defaultdict(list)
    for key in latent:
        _, week, month, metric, table, values = key
        for cut, name in enumerate(table):
            if name not in MULTI_VALUED:
                summed[(week, month, metric, table[:cut] + table[cut + 1:],
                        values[:cut] + values[cut + 1:], name)].append(key)
    for total in [key for key in latent if len(key[4]) < 3]:
        _, week, month, metric, table, values = total
        for name in DIMENSIONS[metric]:
            if name not in table and name not in MULTI_VALUED and name != "referral_status":
                lines.append((total, summed[(week, month, metric, table, values, name)]))
    return lines, latent


def relations(cells, keys):
    """Every additive relation the intruder knows, as (total, parts): within a period, a
    cell is the sum along any single-valued dimension of the table with it added; a
    quarter (a year) is the sum of its months (quarters), but for referral_status."""
    listed = defaultdict(list)  # (metric, period key, table) -> values listed
    for metric, key, table, values in cells:
        listed[(metric, key, table)].append(values)
    for metric, names in DIMENSIONS.items():
        for key in (key for kind in KINDS for key in keys[kind]):
            for table in (table for table in TABLES[metric] if len(table) < 3):
                for name in names:
                    if name in table or name in MULTI_VALUED:
                        continue
                    larger = tuple(n for n in names if n in table or n == name)
                    cut = larger.index(name)
                    parts = defaultdict(list)
                    for values in listed[(metric, key, larger)]:
                        parts[values[:cut] + values[cut + 1:]].append(
                            (metric, key, larger, values))
                    for values in set(parts) | set(listed[(metric, key, table)]):
                        yield (metric, key, table, values), parts[values]
        for kind in ("quarter", "year"):
            for key in keys[kind]:
                inside = children_of(kind, key)
                assert set(inside) <= set(keys[{"quarter": "month", "year": "quarter"}[kind]])
                for table in TABLES[metric]:
                    if "referral_status" in table:
                        continue
                    for values in {v for period in (key, *inside)
                                   for v in listed[(metric, period, table)]}:
                        yield (metric, key, table, values), [
                            (metric, child, table, values) for child in inside
                            if (metric, child, table, values) in cells]


# --- the test ---------------------------------------------------------------------------

def veiled(key):
    """Cells the rule lists suppressed whatever they hold, 0 included (README, Statistics):
    a week's, a quarter's or a year's cells by referral status."""
    metric, period, table, _ = key
    return "referral_status" in table and ("-Q" in period or "-W" in period
                                           or len(period) == 4)


def matches(key, metric, marker):
    return key[0] == metric and set(marker) <= set(key[2]) and all(
        key[3][key[2].index(name)] == value for name, value in marker.items())


def as_json(body):
    return {**body, "range": {side: day.isoformat() for side, day in body["range"].items()}}


def get_stats(client, headers, metric, kind, table):
    response = client.get("/api/v1/stats", headers=headers, query_string={
        "metric": metric, "period": kind, "group_by": ",".join(table), "from": "2025-01-01"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


SPOT_CHECKS = [("cases", "month", ("nationality",)),
               ("cases", "week", ("intake_facility", "nationality", "sex")),
               ("cases", "year", ("age_band", "need", "vulnerability")),
               ("referrals", "quarter", ("service", "referral_status", "to_facility")),
               ("referrals", "month", ("country", "urgency")),
               ("referrals", "year", ())]


def later_records(client, headers_for, planted):
    """Intakes now, a late sync of intakes made on a tablet in the quarter, referral
    statuses changed, and two people erased."""
    promoter = headers_for(UserFactory(role="promoter", facility=planted["posts"][1]))
    staff = headers_for(UserFactory(staff=True, facility=planted["hospital"]))
    admin = headers_for(UserFactory(admin=True))
    rare_again = intake_body(subject={"given_name": "Paul", "sex": "male",
                                      "nationality": "CM", "birth_year": 1999})
    for body in (rare_again, intake_body()):
        assert client.post("/api/v1/cases", json=body, headers=promoter).status_code == 201
    items = [{"client_uuid": str(uuid.uuid4()), "kind": "case", "payload": intake_body(
        captured_at=f"2025-{month}-14T10:00:00Z", subject={
            "given_name": "Ana", "sex": "female", "nationality": nationality,
            "birth_year": 2010})} for month, nationality in ((11, "CM"), (12, "HT"))]
    items.append({"client_uuid": str(uuid.uuid4()), "kind": "referral", "payload": {
        "case_client_uuid": items[0]["client_uuid"], "to_facility_id":
            str(planted["clinic"].id), "services": ["primary_care"], "reason": "Control."}})
    synced = client.post("/api/v1/sync", json={"device_id": "tablet-3", "items": items},
                         headers=promoter).get_json()
    assert [result["status"] for result in synced["results"]] == ["created"] * 3, synced
    first, second, third, fourth = (f"/api/v1/referrals/{r.id}" for r in planted["pending"])
    for url, body in ((f"{first}/accept", None), (f"{second}/decline",
                                                  {"reason_code": "no_capacity"}),
                      (f"{third}/accept", None), (f"{third}/complete", {"outcome": "treated"}),
                      (f"{fourth}/accept", None), (f"{fourth}/complete", {"outcome": "no_show"})):
        assert client.post(url, json=body or {}, headers=staff).status_code == 200, url
    for person in (planted["rare"], planted["minor"]):
        url = f"/api/v1/subjects/{person.subject.pseudonym}"
        assert client.delete(url, headers=admin).status_code == 204


def describe(exposed):
    return [f"{metric} {period} {dict(zip(table, values, strict=True))}: {true}, "
            f"bounded to [{lowest}, {highest}]"
            for (metric, period, table, values), true, lowest, highest in exposed]


@pytest.mark.parametrize("month_audit_s", [stats.MONTH_AUDIT_S, 0.0],
                         ids=["joint-audit", "audit-out-of-time"])
def test_every_table_of_every_period_together_exposes_no_one_and_never_changes(
        session, client, headers_for, planted, month_audit_s, monkeypatch):
    # With no time for their joint audits, months hide what their parts hid instead: the
    # intruder must find nothing either way.
    monkeypatch.setattr(stats, "MONTH_AUDIT_S", month_audit_s)
    assert aggregates.tables("cases") == TABLES["cases"]
    assert aggregates.tables("referrals") == TABLES["referrals"]
    manager = UserFactory(manager=True)
    answers = every_answer(session, manager)
    cells, keys = published_cells(answers)
    assert keys["year"][-1] == "2025" and keys["quarter"][-1] == "2025-Q4"
    assert keys["month"][-1] == "2025-12" and keys["week"][-1] == "2026-W01"
    truth = true_counts(session, keys)

    # Every published count is true and none lies in 1..K-1; unlisted cells are 0.
    assert not [key for key, count in cells.items() if count is not None and 1 <= count < K]
    assert not [key for key, count in cells.items()
                if count is not None and count != truth.get(key, 0)]
    assert not [key for key, count in truth.items()
                if count and key not in cells and key[0] not in ("flow", "share")]
    # Each rare person is hidden wherever they are alone (fewer than K).
    for metric, marker in RARE:
        alone = [key for key, count in truth.items() if matches(key, metric, marker)]
        assert {key[1] for key in alone} >= {"2025-Q4", "2025"}, marker
        assert all(truth[key] < K for key in alone), marker
        assert not [key for key in alone if cells[key] is not None], marker
    moves, latent = lifecycle(cells, keys)
    shared, shares = weeks_and_months(cells, keys)
    exposed = Intruder(cells, [*relations(cells, keys), *moves, *shared], truth,
                       latent=latent | shares, may_be_zero=veiled).exposed()

    for metric, kind, table in SPOT_CHECKS:
        body = get_stats(client, headers_for(manager), metric, kind, table)
        assert body == as_json(answers[(metric, kind, table)])
    later_records(client, headers_for, planted)
    assert every_answer(session, manager) == answers
    assert true_counts(session, keys) == truth
    for metric, kind, table in SPOT_CHECKS:
        body = get_stats(client, headers_for(manager), metric, kind, table)
        assert body == as_json(answers[(metric, kind, table)])

    # Last, so that an exposure does not hide how the rest behaves.
    assert not exposed, f"{len(exposed)} small counts exposed, e.g. {describe(exposed[:5])}"
