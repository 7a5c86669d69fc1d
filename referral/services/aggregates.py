"""Counts for statistics: every table of up to three dimensions of one period, in SQL.

A table is the count of records per combination of values of its dimensions (API.md,
Statistics). Each three-dimension table is one GROUP BY on plain columns, on SQLite and
PostgreSQL alike; the smaller tables are summed from a larger one over an additive
dimension, so no row is ever read into Python and the tables agree with each other.

A record counts in the period in which it reached the server (`created_at`); a
referral's status is the one it had at the end of the period (a part's: at the end of
its month, `periods.CalendarPeriod.as_of`), from its lifecycle timestamps. Multi-valued
dimensions (need, vulnerability, service) count a record once per value, so they never sum
to a margin: a smaller table is summed over a single-valued dimension only.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from referral.models import Case, CaseNeed, CaseVulnerability, Facility, Referral, ReferralService
from referral.models.codes import REFERRAL_STATUSES as REFERRAL_STATUSES

METRICS = ("cases", "referrals")
MULTI_VALUED = frozenset({"need", "vulnerability", "service"})
MAX_DIMENSIONS = 3
CASE_DIMENSIONS = ("intake_facility", "country", "nationality", "sex", "age_band", "need",
                   "urgency", "vulnerability", "travel_direction")
REFERRAL_DIMENSIONS = (*CASE_DIMENSIONS, "service", "referral_status", "to_facility")
DIMENSIONS = {"cases": CASE_DIMENSIONS, "referrals": REFERRAL_DIMENSIONS}

Table = tuple[str, ...]  # dimension names, in the metric's canonical order
Counts = dict[tuple, int]  # values (in the table's order) -> count


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    as_of: datetime | None = None  # when referral statuses are taken; default its end


def tables(metric: str) -> list[Table]:
    """Every table a manager can ask for: up to three dimensions, canonical order."""
    names = DIMENSIONS[metric]
    return [combo for size in range(MAX_DIMENSIONS + 1) for combo in combinations(names, size)]


def status_at(end: datetime):
    """A referral's status as it was at `end`, from its lifecycle timestamps."""
    return sa.case(
        (Referral.closed_at < end, Referral.status),
        (Referral.responded_at < end, sa.literal("accepted")),
        else_=sa.literal("pending"),
    )


def _columns(metric: str, table: Table, period: Period):
    """The SELECT for one table: its value columns and the joins they need."""
    base = Case if metric == "cases" else Referral
    query_from = base.__table__
    case = Case
    if metric == "referrals":
        query_from = query_from.join(Case.__table__, Referral.case_id == Case.id)
    columns = []
    for name in table:
        if name == "intake_facility":
            columns.append(case.facility_id)
        elif name == "country":
            intake = aliased(Facility)
            query_from = query_from.join(intake, intake.id == case.facility_id)
            columns.append(intake.country)
        elif name == "need":
            query_from = query_from.join(CaseNeed, CaseNeed.case_id == case.id)
            columns.append(CaseNeed.code)
        elif name == "vulnerability":
            query_from = query_from.join(CaseVulnerability, CaseVulnerability.case_id == case.id)
            columns.append(CaseVulnerability.code)
        elif name == "service":
            query_from = query_from.join(ReferralService,
                                         ReferralService.referral_id == Referral.id)
            columns.append(ReferralService.code)
        elif name == "referral_status":
            columns.append(status_at(period.as_of or period.end))
        elif name == "to_facility":
            columns.append(Referral.to_facility_id)
        elif name == "urgency":
            columns.append(base.urgency)
        else:  # nationality, sex, age_band, travel_direction: plain copies on the case
            columns.append(getattr(case, name))
    received = sa.and_(base.created_at >= period.start, base.created_at < period.end)
    return columns, query_from, received


def count_table(session: Session, metric: str, table: Table, period: Period) -> Counts:
    """One GROUP BY: the non-zero counts of one table in one period."""
    columns, query_from, received = _columns(metric, table, period)
    labelled = [column.label(f"d{index}") for index, column in enumerate(columns)]
    query = (sa.select(*labelled, sa.func.count().label("n")).select_from(query_from)
             .where(received).group_by(*[sa.literal_column(c.name) for c in labelled]))
    if not table:
        query = sa.select(sa.func.count()).select_from(query_from).where(received)
        total = session.scalar(query)
        return {(): total} if total else {}
    return {tuple(_plain(value) for value in row[:-1]): row[-1] for row in session.execute(query)}


def _plain(value):
    return str(value) if isinstance(value, uuid.UUID) else value  # ids as text, as the API


def _summable_parent(table: Table, metric: str) -> tuple[Table, int] | None:
    """A three-dimension table this one is summed from, and the position summed over."""
    for extra in DIMENSIONS[metric]:
        if extra in table or extra in MULTI_VALUED:
            continue
        parent = tuple(name for name in DIMENSIONS[metric] if name in table or name == extra)
        return parent, parent.index(extra)
    return None


def _sum_over(counts: Counts, position: int) -> Counts:
    summed: Counts = {}
    for values, count in counts.items():
        key = values[:position] + values[position + 1:]
        summed[key] = summed.get(key, 0) + count
    return summed


def count_all(session: Session, metric: str, period: Period) -> dict[Table, Counts]:
    """Every table of the metric in one period: three-dimension tables from SQL, the
    smaller ones summed from them over a single-valued dimension."""
    result: dict[Table, Counts] = {}
    for table in sorted(tables(metric), key=len, reverse=True):
        if len(table) == MAX_DIMENSIONS:
            result[table] = count_table(session, metric, table, period)
            continue
        parent = _summable_parent(table, metric)
        result[table] = _sum_over(result[parent[0]], parent[1])
    return result


Cell = tuple[str, Table, tuple]  # (period key, table, values): one published number


def additive_lines(period_key: str, counted: dict[Table, Counts]):
    """Every relation an intruder knows inside one period: the cells of a table along a
    single-valued dimension sum to the margin cell without it. Yields (total, parts);
    cells not listed are 0, known to all, so they are left out of the parts."""
    for table, counts in counted.items():
        for position, name in enumerate(table):
            if name in MULTI_VALUED:
                continue
            margin = table[:position] + table[position + 1:]
            groups: dict[tuple, list[Cell]] = {}
            for values in counts:
                rest = values[:position] + values[position + 1:]
                groups.setdefault(rest, []).append((period_key, table, values))
            for rest, parts in groups.items():
                yield (period_key, margin, rest), tuple(parts)


def summable(table: Table, kind: str) -> bool:
    """Whether the cells of this table of a period of `kind` add up as its sub-periods'
    do. A part's and a month's do: their statuses are all taken at the month's end. Not
    those by referral_status of a week, a quarter or a year: a status at the end of a part
    (a month) is not the one at the week's (the quarter's) end."""
    return kind in ("part", "month") or "referral_status" not in table


def period_lines(kind: str, parent_key: str, parent: dict[Table, Counts],
                 children: dict[str, dict[Table, Counts]]):
    """The parts of a week or a month, the months of a quarter (the quarters of a year),
    sum to it, cell by cell, in the tables that are `summable`."""
    for table, counts in parent.items():
        if not summable(table, kind):
            continue
        for values in counts:
            parts = tuple((key, table, values) for key, tables_of in children.items()
                          if values in tables_of[table])
            yield (parent_key, table, values), parts
