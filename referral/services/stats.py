"""Statistics releases (DESIGN.md): every table of a finished period, protected together.

A release is computed once per finished calendar period, under a database lock, and
never changes: requests read stored cells only. A quarter is released after its months
and a year after its quarters, and their published cells are fixed when it is protected,
so no answer can be subtracted from another to isolate anyone.

A quarter's (a year's) cells by referral status are all published suppressed
(`_veiled`): the lifecycle ties them to the months' in ways an audit of additive lines
does not see. Its joint audit with its months can take hours where months are mostly
hidden; past PARENT_AUDIT_S it gives way to hiding what the months (quarters) hid
(`_protect`), which is safe by construction, and the release's audit event says so.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.models import Case, Referral, StatsCell, StatsRelease
from referral.services import aggregates, audit, disclosure, periods
from referral.services.periods import CalendarPeriod

log = logging.getLogger(__name__)
ORDER = ("month", "quarter", "year", "week")  # parents after the periods they are made of
PARENTS = ("quarter", "year")
BATCH = 5000
# How long a quarter's (a year's) joint audit may take, per release, before it falls back
# on hiding what the periods beneath hid (`_protect`). On a quarter of 3,000 cases it had
# not ended after an hour; the whole release, fallback included, took 128-130 s, and the
# year 162 s (bench/stats.py 3000).
PARENT_AUDIT_S = 120.0


def _lock(session: Session, period: CalendarPeriod) -> None:
    """One releaser per period at a time, whichever process it runs in.

    PostgreSQL: a transaction-level advisory lock on the period. SQLite: every
    transaction begins IMMEDIATE (database.py), which already serialises writers."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # Hundreds of small GROUP BYs: compiling each with JIT (which PostgreSQL turns on
    # when it expects many rows) cost 100-200 ms apiece, far more than running them.
    session.execute(sa.text("SET LOCAL jit = off"))
    digest = hashlib.sha256(f"stats-release:{period.kind}:{period.key}".encode()).digest()
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(
        int.from_bytes(digest[:8], "big", signed=True))))


def find(session: Session, period: CalendarPeriod) -> StatsRelease | None:
    return session.scalar(sa.select(StatsRelease).where(
        StatsRelease.period == period.kind, StatsRelease.period_key == period.key))


class ReleaseMismatch(RuntimeError):
    """A released period's records no longer count as published: they were changed."""


def _cells_of(session: Session, release: StatsRelease, counts: dict | None = None) -> dict:
    """Stored cells of a release as {(metric, period key, table, values): hidden}.

    With `counts` (the period counted again), checks that they are the counts it was
    released from: the parent's audit must attack what was really published. Records only
    count where they reached the server, so they differ only if records were written into
    the past (a synthetic load over released months, a restore)."""
    found, published, unveiled = {}, {}, 0
    rows = session.execute(sa.select(StatsCell.metric, StatsCell.dimensions,
                                     StatsCell.coordinates, StatsCell.count)
                           .where(StatsCell.release_id == release.id))
    for metric, dimensions, coordinates, count in rows:
        table = tuple(dimensions.split(",")) if dimensions else ()
        if release.period in PARENTS and not aggregates.summable(table):
            unveiled += count is not None
            continue  # veiled: all suppressed, and out of every audit (`_veiled`)
        key = (metric, release.period_key, table, tuple(json.loads(coordinates)))
        found[key] = count is None
        published[key] = count
    if unveiled:
        # Released before statuses were veiled: what it published stays published.
        log.warning("%s %s publishes %d of its counts by referral status, from before "
                    "such counts were suppressed in quarters and years; they can narrow small "
                    "counts of its months, and only releasing it again would withdraw them",
                    release.period, release.period_key, unveiled)
    if counts is not None:
        recounted = {key for key in counts if key[1] == release.period_key}
        if recounted != set(found) or any(
                count is not None and counts[key] != count for key, count in published.items()):
            raise ReleaseMismatch(
                f"the records of {release.period} {release.period_key} changed after its "
                "release; its parent periods cannot be released on top of it")
    return found


def _counted(session: Session, period: CalendarPeriod, counts: dict, lines: list) -> dict:
    """Count every table of both metrics in the period; into `counts` and `lines`, those
    its audit holds: a quarter's or a year's veiled tables stay out (`_veiled`)."""
    window = aggregates.Period(period.start, period.end)
    by_metric = {}
    for metric in aggregates.METRICS:
        counted = aggregates.count_all(session, metric, window)
        by_metric[metric] = counted
        if period.kind in PARENTS:
            counted = {table: cells for table, cells in counted.items()
                       if aggregates.summable(table)}
        for table, cells in counted.items():
            for values, count in cells.items():
                counts[(metric, period.key, table, values)] = count
        lines.extend(disclosure.Line((metric, *total), tuple((metric, *p) for p in parts))
                     for total, parts in aggregates.additive_lines(period.key, counted))
    return by_metric


def _veiled(period: CalendarPeriod, counted: dict) -> dict:
    """A quarter's or a year's cells by referral status, each to be published suppressed,
    with every status listed for each combination of the other dimensions that occurs, 0
    or not: {key: true count}.

    A status at the end of a quarter is not the sum of the months' statuses, but the
    lifecycle ties them: the referrals of the last month have the same status at both
    ends, those of the other months the same or a later one. Published, such cells let an
    intruder bound the months' cells, and the quarter's, in ways no additive line shows
    (the intruder of tests/test_stats_intruder.py found hundreds). Veiled like this they
    tell nothing the releases beneath had not: for any counts of the months those allow,
    "no referral moved" (each quarter cell the sum of its months' cells by status) fits
    every table of the quarter, so the months' audits stand; and a small quarter cell
    either has a hidden month part, whose maximum reaches k and takes the cell's with it,
    or its month parts are all published, sum to 0 and, with no move, so does the cell.
    Listing the zeros too is what keeps the minimum at 0: a listed cell that always held
    someone would be at least 1. A year over its quarters' veiled cells likewise. An
    intruder who also knows that a pending referral expires within 48 h (so none pending
    at a month's end is still pending at the quarter's) is answered the same way, with
    "the earlier months' pending referrals expired" for "no referral moved"."""
    veiled = {}
    for metric, tables in counted.items():
        for table, cells in tables.items():
            if aggregates.summable(table):
                continue
            at = table.index("referral_status")
            margin = tables[table[:at] + table[at + 1:]]
            for values in margin:
                for status in aggregates.REFERRAL_STATUSES:
                    cell = values[:at] + (status,) + values[at:]
                    veiled[(metric, period.key, table, cell)] = cells.get(cell, 0)
    return veiled


@dataclass
class _View:
    """What an intruder holds when a period is released: every count, every line, and
    the cells of the releases beneath it (hidden or not), with the k they had."""

    counts: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)
    frozen: dict = field(default_factory=dict)
    k: set = field(default_factory=set)

    def of(self, metrics) -> tuple[dict, list, dict]:
        """Its counts, lines and frozen cells of `metrics` only (metrics share no line)."""
        return ({key: n for key, n in self.counts.items() if key[0] in metrics},
                [line for line in self.lines if line.total[0] in metrics],
                {key: h for key, h in self.frozen.items() if key[0] in metrics})


def _beneath(session: Session, period: CalendarPeriod, counted: dict,
             children: list[StatsRelease], view: _View) -> list:
    """Every release beneath `period`, frozen, into the intruder's view: a year's quarters
    and their months, each with its own lines and the lines to its parent. A year audited
    with its quarters alone could publish what a quarter hid to protect a month. Returns
    the lines making `period`'s cells the sums of its children's."""
    counted_children = {}
    for child_period, child in zip(period.children(), children, strict=True):
        counted_children[child.period_key] = _counted(session, child_period, view.counts,
                                                      view.lines)
        view.frozen |= _cells_of(session, child, view.counts)
        view.k.add(child.k)
        grandchildren = [find(session, below) for below in child_period.children()]
        if grandchildren:
            _beneath(session, child_period, counted_children[child.period_key],
                     grandchildren, view)
    sums = [disclosure.Line((metric, *total), tuple((metric, *p) for p in parts))
            for metric in aggregates.METRICS
            for total, parts in aggregates.period_lines(
                period.key, counted[metric],
                {key: counted[metric] for key, counted in counted_children.items()})]
    view.lines.extend(sums)
    return sums


def _protect(session: Session, period: CalendarPeriod, children: list[StatsRelease], k: int):
    """The counts, this period's cells, and which of them to hide.

    A month is protected as DESIGN.md says. A quarter or a year veils its cells by
    referral status (`_veiled`); the rest, all sums of the periods beneath, is protected
    jointly with them, one metric at a time (they share no line), for up to
    PARENT_AUDIT_S. A metric not done by then hides every cell with a hidden part instead
    (`disclosure.nested`), which passes the joint audit with no LP when the releases
    beneath had the same k; else the audit starts again from that pattern, to the end."""
    view = _View()
    mine = _counted(session, period, view.counts, view.lines)
    own = [key for key in view.counts if key[1] == period.key]
    if not children:
        return view.counts, own, _hidden(period, view, set(aggregates.METRICS), k=k), []
    veiled = _veiled(period, mine)
    sums = _beneath(session, period, mine, children, view)
    deadline = time.monotonic() + PARENT_AUDIT_S
    hidden, nested, fell_back = set(), None, []
    for metric in aggregates.METRICS:
        try:
            hidden |= _hidden(period, view, {metric}, k=k, deadline=deadline)
            continue
        except disclosure.OutOfTime:
            log.info("release %s %s: the %s audit ran out of time; hiding what the periods "
                     "beneath hid", period.kind, period.key, metric)
        fell_back.append(metric)
        if nested is None:
            nested = disclosure.nested(view.counts, sums, view.frozen, k=k)
        hide = {key for key in nested if key[0] == metric}
        if view.k == {k}:
            hidden |= hide
        else:
            hidden |= _hidden(period, view, {metric}, k=k, hide=hide)
    return view.counts | veiled, own + list(veiled), hidden | set(veiled), fell_back


def _hidden(period: CalendarPeriod, view: _View, metrics: set, *, k: int,
            **options) -> set:
    """The cells of `metrics` that `disclosure.protect` hides in this period."""
    counts, lines, frozen = view.of(metrics)
    pattern = disclosure.protect(counts, lines, k=k, frozen=frozen, **options)
    if pattern.unresolved:
        # Exposed whatever this release hides: by the published releases alone (k was
        # raised since, say), or by which of this release's cells are listed. Operators
        # must know; hiding more would not help. Tables only, never which cells.
        tables = sorted({" ".join((key[0], key[1], ",".join(key[2]) or "total"))
                         for key in pattern.unresolved})
        more = f" and {len(tables) - 8} more tables" if len(tables) > 8 else ""
        log.warning("release %s %s: %d hidden cells stay exposed whatever it hides, in %s%s",
                    period.kind, period.key, len(pattern.unresolved), "; ".join(tables[:8]),
                    more)
    return pattern.hidden


def release(session: Session, period: CalendarPeriod, *, now: datetime, k: int,
            actor=None, made: list | None = None) -> tuple[StatsRelease, bool]:
    """The release of one finished period: (release, made now). Idempotent, one at a time.

    Periods it is made of are released first if they have none; every release made is
    appended to `made`. Flushes only; the caller commits, which also ends the lock."""
    if not period.finished(now):
        raise ValueError(f"{period.kind} {period.key} has not finished")
    _lock(session, period)
    existing = find(session, period)
    if existing is not None:
        return existing, False
    started = time.monotonic()
    children = [release(session, child, now=now, k=k, actor=actor, made=made)[0]
                for child in period.children()]
    counts, own, hidden, nested = _protect(session, period, children, k)
    release_ = StatsRelease(period=period.kind, period_key=period.key,
                            starts_at=period.start, ends_at=period.end, k=k, cells=len(own),
                            hidden_cells=len(hidden), created_at=now)
    session.add(release_)
    session.flush()
    rows = [{"release_id": release_.id, "metric": key[0], "dimensions": ",".join(key[2]),
             "coordinates": json.dumps(list(key[3])),
             "count": None if key in hidden else counts[key]} for key in own]
    for start in range(0, len(rows), BATCH):
        session.execute(sa.insert(StatsCell), rows[start:start + BATCH])
    release_.seconds = round(time.monotonic() - started, 3)
    audit.record(session, "stats_released", actor=actor, object_type="stats_release",
                 object_id=release_.id, now=now,
                 detail={"period": period.kind, "key": period.key, "k": k,
                         "cells": len(own), "hidden": len(hidden),
                         **({"nested": nested} if nested else {})})
    session.flush()
    if made is not None:
        made.append(release_)
    return release_, True


def first_record_at(session: Session) -> datetime | None:
    """When the oldest case or referral reached the server."""
    firsts = [session.scalar(sa.select(sa.func.min(model.created_at)))
              for model in (Case, Referral)]
    firsts = [moment for moment in firsts if moment is not None]
    return min(firsts) if firsts else None


def release_all(session: Session, *, now: datetime, k: int, kinds=ORDER, actor=None,
                between=None) -> list[StatsRelease]:
    """Release every finished period that has none yet; `between` commits after each."""
    first = first_record_at(session)
    made = []
    if first is None:
        return made
    for kind in [kind for kind in ORDER if kind in kinds]:
        for period in periods.finished_between(kind, first, now):
            if find(session, period) is not None:
                continue
            release(session, period, now=now, k=k, actor=actor, made=made)
            if between:
                between()
    if made and between:
        analyze(session)
    return made


def analyze(session: Session) -> None:
    """Commit, and on PostgreSQL refresh the planner's statistics of the stored cells.

    A release adds hundreds of thousands of cells at once; until autovacuum notices, the
    planner may read a table of one release by scanning every cell of its metric: at a
    million cases, 34 ms where the index on the table's name takes 1 ms. ANALYZE runs in
    a transaction of its own, holding nothing else, and only where the caller commits."""
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("ANALYZE stats_cells"))
        session.commit()
