"""Reading statistics: one table of published cells over a range of finished periods.

Answers come from stored releases only (DESIGN.md); a finished period with no release yet
is released here first, under the release lock, so it is computed once. Nothing is summed
across periods. Facilities are named by their code, never by an id.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Conflict, Invalid
from referral.models import Facility, StatsCell, StatsRelease
from referral.services import aggregates, audit, periods, stats
from referral.services.periods import CalendarPeriod

MAX_PERIODS = 600  # eleven years of weeks
FACILITY_DIMENSIONS = ("intake_facility", "to_facility")
RULE = ("Counts from 1 to {last} are suppressed, and so are the cells that would let "
        "anyone work them out, or narrow them to 1..{last}, from everything published for "
        "the period and the periods inside it. Nothing is summed across periods; a "
        "combination not listed is 0.")
VEILED = ("By week, by quarter and by year, every count by referral status is suppressed, "
          "and every status is listed wherever referrals occur, 0 included: the statuses at "
          "the end of a week or a quarter follow from those at the end of its months. Ask "
          "for months instead.")


@dataclass(frozen=True)
class Query:
    metric: str
    period: str
    group_by: tuple[str, ...]
    first: CalendarPeriod | None = None  # snapped outward; None: from the first record
    last: CalendarPeriod | None = None  # None: the last finished period
    format: str = "json"

    @property
    def table(self) -> tuple[str, ...]:
        """The dimensions in the canonical order releases store them in."""
        order = aggregates.DIMENSIONS[self.metric]
        return tuple(sorted(self.group_by, key=order.index))


def _periods(session: Session, query: Query, now: datetime):
    """(first, last, the finished periods of the range) of a query."""
    last = query.last or periods.containing(
        query.period, periods.containing(query.period, now).start - timedelta(microseconds=1))
    first = query.first
    if first is None:
        recorded = stats.first_record_at(session)
        first = periods.containing(query.period, recorded) if recorded else last
        first = min(first, last)
    elif query.last is None:
        last = max(first, last)  # from a period not finished yet: nothing to answer
    found, period = [], first
    while period <= last and period.finished(now):
        found.append(period)
        if len(found) > MAX_PERIODS:
            raise Invalid(f"more than {MAX_PERIODS} periods: narrow the range or ask for a "
                          "coarser period", fields={"from": ["Range too long."]})
        period = periods.containing(query.period, period.end)
    return first, last, found


def _releases(session: Session, wanted: list[CalendarPeriod], *, now: datetime, k: int,
              between=None) -> dict[str, StatsRelease]:
    """The release of every wanted period; those missing are made, each committed apart."""
    keys = [period.key for period in wanted]
    have = {release.period_key: release for release in session.scalars(
        sa.select(StatsRelease).where(StatsRelease.period == wanted[0].kind,
                                      StatsRelease.period_key.in_(keys)))} if keys else {}
    missing = [period for period in wanted if period.key not in have]
    first_record = stats.first_record_at(session) if missing else None  # (the usual read)
    for period in missing:
        if first_record is None or period.end <= periods.containing(
                period.kind, first_record).start:
            continue  # before anything was recorded: nothing to count, nothing to store
        try:
            have[period.key], _ = stats.release_committed(session, period, now=now, k=k,
                                                          commit=between)
        except stats.ReleaseMismatch as exc:
            raise Conflict(f"{exc}: an operator must look into it") from None
    if between and set(have) & {period.key for period in missing}:  # some were made
        stats.analyze(session)
    return have


def _labels(session: Session, table: tuple[str, ...]) -> dict:
    """Facility ids (as stored in cells) to facility codes."""
    if not any(name in FACILITY_DIMENSIONS for name in table):
        return {}
    return {str(fid): code for fid, code in session.execute(
        sa.select(Facility.id, Facility.code))}


def answer(session: Session, query: Query, *, user, now: datetime, k: int, ip=None,
           between=None) -> dict:
    """The table asked for, as API.md's JSON; the export is audited (no values)."""
    first, last, wanted = _periods(session, query, now)
    releases = _releases(session, wanted, now=now, k=k, between=between)
    table = query.table
    labels = _labels(session, table)
    by_release = {release.id: release for release in releases.values()}
    cells = session.execute(
        sa.select(StatsCell.release_id, StatsCell.dimensions, StatsCell.coordinates,
                  StatsCell.count)
        .where(StatsCell.release_id.in_(list(by_release)), StatsCell.metric == query.metric,
               StatsCell.dimensions.in_([",".join(table), ""]))) if by_release else []
    rows, totals = [], {}
    for release_id, dimensions, coordinates, count in cells:
        release = by_release[release_id]
        if not dimensions:
            totals[release.period_key] = _count(count)
            if table:
                continue
        values = json.loads(coordinates)
        named = dict(zip(table, values, strict=True))
        rows.append({"period": release.period_key,
                     **{name: labels.get(named[name], named[name]) for name in query.group_by},
                     **_count(count)})
    order = {period.key: n for n, period in enumerate(wanted)}
    rows.sort(key=lambda row: (order[row["period"]], [str(row[name]) for name in query.group_by]))
    result = {
        "metric": query.metric, "period": query.period, "group_by": list(query.group_by),
        "k": max((release.k for release in releases.values()), default=k),
        "range": {"from": first.start.date(), "to": (last.end - timedelta(days=1)).date()},
        "periods": [period.key for period in wanted],
        "rows": rows,
        "totals": [{"period": period.key, **totals.get(period.key, {"count": 0})}
                   for period in wanted],
    }
    result["hidden"] = information_loss(result, additive=not (
        set(table) & aggregates.MULTI_VALUED))
    audit.record(session, "stats_exported", actor=user, object_type="stats", ip=ip, now=now,
                 detail={"metric": query.metric, "period": query.period,
                         "group_by": list(query.group_by), "format": query.format,
                         "from": first.key, "to": last.key, "periods": len(wanted)})
    return result


def _count(count: int | None) -> dict:
    return {"count": None, "suppressed": True} if count is None else {"count": count}


def information_loss(result: dict, *, additive: bool) -> dict:
    """What the suppression cost, from published figures only.

    `cells`: the share of listed cells suppressed. `people`: the share of the count in
    suppressed cells, as anyone can work it out from the answer (a period's total minus its
    published cells), over the periods whose total is published. The true hidden count is
    not used: where the answer does not determine it (a multi-valued dimension, whose cells
    do not add up to the total, or only suppressed totals), stating it would reveal it, so
    `people` is null there.
    """
    rows = result["rows"]
    cells = sum(row["count"] is None for row in rows) / len(rows) if rows else 0.0
    if not result["group_by"]:
        hidden = any(row["count"] is None for row in result["totals"])
        return {"cells": cells, "people": None if hidden else 0.0}
    if not additive:
        return {"cells": cells, "people": None}
    published: dict[str, int] = {}
    for row in rows:
        published[row["period"]] = published.get(row["period"], 0) + (row["count"] or 0)
    known = [total for total in result["totals"] if total["count"] is not None]
    people = sum(total["count"] for total in known)
    if not people:
        return {"cells": cells, "people": None if len(known) < len(result["totals"]) else 0.0}
    lost = sum(total["count"] - published.get(total["period"], 0) for total in known)
    return {"cells": cells, "people": lost / people}
