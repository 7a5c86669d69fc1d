"""Statistics releases (DESIGN.md): every table of a finished period, protected together.

A release is computed once per finished calendar period, under a database lock, and
never changes: requests read stored cells only. Only parts (`periods`: the days of one
ISO week inside one month) are audited; a week or a month is released after its parts, a
quarter after its months and a year after its quarters, and publishes only what adding
up their releases gives (`_protect`), so no answer, nor any set of answers, can be
subtracted from another to isolate anyone. Parts' releases are stored like the others,
and never served.

A week's, a quarter's and a year's cells by referral status are all published suppressed
(`_veiled`): the lifecycle ties them to their parts' in ways no sum shows.
"""

import hashlib
import json
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral import database
from referral.models import Case, Referral, StatsCell, StatsClaim, StatsRelease
from referral.services import aggregates, audit, disclosure, periods
from referral.services.periods import CalendarPeriod

log = logging.getLogger(__name__)
ORDER = ("month", "quarter", "year", "week")  # parents after the periods they are made of
VEILED = tuple(kind for kind in periods.KINDS if not aggregates.summable(
    ("referral_status",), kind))  # whose cells by referral status are all suppressed
BATCH = 5000
# How long a month's joint audit with its parts may take, per release, before it falls
# back on hiding what its parts hid (`_protect`).
MONTH_AUDIT_S = 30.0
LOCKED_WAIT_S = 3600.0  # how long `release_all` waits for another releaser on SQLite
CLAIM_POLL_S = 0.5  # how often a releaser waiting on another's claim looks again (SQLite)


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
    released from: the parent must add up what was really published. Records only
    count where they reached the server, so they differ only if records were written into
    the past (a synthetic load over released months, a restore)."""
    found, published, unveiled = {}, {}, 0
    rows = session.execute(sa.select(StatsCell.metric, StatsCell.dimensions,
                                     StatsCell.coordinates, StatsCell.count)
                           .where(StatsCell.release_id == release.id))
    for metric, dimensions, coordinates, count in rows:
        table = tuple(dimensions.split(",")) if dimensions else ()
        if not aggregates.summable(table, release.period):
            unveiled += count is not None
            continue  # veiled: all suppressed, and out of every sum (`_veiled`)
        key = (metric, release.period_key, table, tuple(json.loads(coordinates)))
        found[key] = count is None
        published[key] = count
    if unveiled:
        # Released before statuses were veiled: what it published stays published.
        log.warning("%s %s publishes %d of its counts by referral status, from before "
                    "such counts were suppressed in quarters and years; they can narrow small "
                    "counts of its months, and only `flask stats rerelease` would withdraw them",
                    release.period, release.period_key, unveiled)
    if counts is not None:
        recounted = {key for key in counts if key[1] == release.period_key}
        if recounted != set(found) or any(
                count is not None and counts[key] != count for key, count in published.items()):
            served = periods.from_key(release.period, release.period_key)
            if served.kind == periods.PART:  # never served: the operator knows its month
                served = periods.containing("month", served.start)
            raise ReleaseMismatch(
                f"the records of {served.kind} {served.key} changed after its release; its "
                "parent periods cannot be released on top of it until `flask stats "
                f"rerelease --period {served.kind} {served.key}` releases it again")
    return found


def _counted(session: Session, period: CalendarPeriod, counts: dict,
             lines: list | None = None) -> dict:
    """Count every table of both metrics in the period; into `counts` (and `lines`), those
    that are sums of its parts: a week's, a quarter's or a year's cells by referral status
    stay out (`_veiled`)."""
    window = aggregates.Period(period.start, period.end, period.as_of)
    by_metric = {}
    for metric in aggregates.METRICS:
        counted = aggregates.count_all(session, metric, window)
        by_metric[metric] = counted
        counted = {table: cells for table, cells in counted.items()
                   if aggregates.summable(table, period.kind)}
        for table, cells in counted.items():
            for values, count in cells.items():
                counts[(metric, period.key, table, values)] = count
        if lines is not None:
            lines.extend(disclosure.Line((metric, *total), tuple((metric, *p) for p in parts))
                         for total, parts in aggregates.additive_lines(period.key, counted))
    return by_metric


def _veiled(period: CalendarPeriod, counted: dict) -> dict:
    """A week's, a quarter's or a year's cells by referral status, each to be published
    suppressed, with every status listed for each combination of the other dimensions
    that occurs, 0 or not: {key: true count}.

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
    someone would be at least 1. A year over its quarters' veiled cells likewise, and a
    week over its parts, whose statuses are taken at the end of their months: "no referral
    moved" between the end of a part's month and the week's end, whichever comes first.
    An intruder who also knows that a pending referral expires within 48 h (so none
    pending at a month's end is still pending at the quarter's) is answered the same way,
    with "the earlier months' pending referrals expired" for "no referral moved"."""
    veiled = {}
    for metric, tables in counted.items():
        for table, cells in tables.items():
            if aggregates.summable(table, period.kind):
                continue
            at = table.index("referral_status")
            margin = tables[table[:at] + table[at + 1:]]
            for values in margin:
                for status in aggregates.REFERRAL_STATUSES:
                    cell = values[:at] + (status,) + values[at:]
                    veiled[(metric, period.key, table, cell)] = cells.get(cell, 0)
    return veiled


def _protect(session: Session, period: CalendarPeriod, children: list[StatsRelease], k: int):
    """The counts, this period's cells, which of them to hide, and the metrics of a month
    that fell back on `nested` (its joint audit ran out of time, or its parts had another
    k); for weeks, quarters and years `nested` is the rule, not a fallback.

    Why parts: a month and a week that straddles it share days, so neither is the sum of
    the other, and protected apart, each narrowed the other's small cells (a month
    publishing 5 where the weeks inside it hid 2, 2 and 1, each listed and so at least 1,
    held each of them to 1 to 3). Here every period is made of the releases beneath it.
    - A part is protected as DESIGN.md says a release is, on its own.
    - A week, a quarter or a year hides each cell that is small or has a hidden part
      (`disclosure.nested`), and veils its cells by referral status, which are not such
      sums (`_veiled`): it tells nothing its parts' releases had not.
    - A month is audited jointly with its parts, as DESIGN.md says a quarter is with its
      months, for up to MONTH_AUDIT_S; past that, a metric falls back on `nested` (the
      release's audit event says so), as it does when the parts had another k.
    Why that is safe: take an intruder who knew every part's release as if published
    (more than anyone knows: a part straddling two months is only ever published inside
    its week). Weeks, quarters and years tell them nothing more. Each month's audit holds
    its own parts, and no two months share one, so what the months tell together is what
    each passed on its own. Each small cell of a part or a month can therefore still reach
    k, and a small cell of a week, a quarter or a year has a hidden part that can."""
    counts, lines = {}, []
    if not children:
        _counted(session, period, counts, lines)
        return counts, list(counts), set().union(*_hidden(period, counts, lines, k=k).values()), []
    joint = period.kind == "month"  # else its own lines and its parts' counts go unread
    if {child.k for child in children} != {k}:
        # DESIGN.md: a new k applies to releases made afterwards; what the parts allowed
        # under their own k stays allowed. Tell the operator, never which cells.
        log.warning("release %s %s: k=%d, over releases made with k=%s; `flask stats "
                    "rerelease --period %s %s` would apply k=%d to them too", period.kind,
                    period.key, k, ",".join(str(n) for n in sorted({c.k for c in children})),
                    period.kind, period.key, k)
        joint = False
    mine = _counted(session, period, counts, lines if joint else None)
    own = list(counts)
    frozen, below, view, view_lines = {}, {}, dict(counts), list(lines)
    for child_period, child in zip(period.children(), children, strict=True):
        child_counts = {}
        below[child.period_key] = _counted(session, child_period, child_counts,
                                           view_lines if joint else None)
        frozen |= _cells_of(session, child, child_counts)
        if joint:
            view |= child_counts
    sums = [disclosure.Line((metric, *total), tuple((metric, *p) for p in parts))
            for metric in aggregates.METRICS
            for total, parts in aggregates.period_lines(
                period.kind, period.key, mine[metric],
                {key: counted[metric] for key, counted in below.items()})]
    hidden, fell_back = set(), []
    audited = (_hidden(period, view, view_lines + sums, k=k, frozen=frozen,
                       deadline=time.monotonic() + MONTH_AUDIT_S)
               if joint else dict.fromkeys(aggregates.METRICS))
    for metric, found in audited.items():
        if found is not None:
            hidden |= found
            continue
        if joint:
            log.info("release %s %s: the %s audit ran out of time; hiding what its parts "
                     "hid", period.kind, period.key, metric)
        if period.kind == "month":
            fell_back.append(metric)
        hidden |= {key for key in disclosure.nested(counts, sums, frozen, k=k)
                   if key[0] == metric}
    veiled = _veiled(period, mine)
    return counts | veiled, own + list(veiled), hidden | set(veiled), fell_back


def _hidden(period: CalendarPeriod, counts: dict, lines: list, *, k: int,
            frozen: dict | None = None, deadline=None) -> dict[str, set | None]:
    """The cells of this period that `disclosure.protect` hides, per metric (None for one
    whose audit ran past `deadline`), with the cells of its parts `frozen`. Metrics share no
    line, so they are protected apart, side by side when large (`disclosure.protect_each`):
    a week's part at a million cases a year takes minutes per metric."""
    frozen = frozen or {}
    jobs = {metric: {"counts": {key: n for key, n in counts.items() if key[0] == metric},
                     "lines": [line for line in lines if line.total[0] == metric], "k": k,
                     "frozen": {key: h for key, h in frozen.items() if key[0] == metric},
                     "deadline": deadline}
            for metric in aggregates.METRICS}
    hidden = {}
    for metric, pattern in disclosure.protect_each(jobs).items():
        if isinstance(pattern, disclosure.OutOfTime):
            hidden[metric] = None
            continue
        hidden[metric] = pattern.hidden
        _unresolved(period, pattern)
    return hidden


def _unresolved(period: CalendarPeriod, pattern: disclosure.Pattern) -> None:
    if pattern.unresolved:
        # Exposed whatever this release hides: by its parts' releases alone (k was raised
        # since, say), or by which of its cells are listed. Operators must know; hiding
        # more would not help. Tables only, never which cells.
        tables = sorted({" ".join((key[0], key[1], ",".join(key[2]) or "total"))
                         for key in pattern.unresolved})
        more = f" and {len(tables) - 8} more tables" if len(tables) > 8 else ""
        log.warning("release %s %s: %d hidden cells stay exposed whatever it hides, in %s%s",
                    period.kind, period.key, len(pattern.unresolved), "; ".join(tables[:8]),
                    more)


def release(session: Session, period: CalendarPeriod, *, now: datetime, k: int,
            actor=None, made: list | None = None) -> tuple[StatsRelease, bool]:
    """The release of one finished period: (release, made now). Idempotent, one at a time.

    Periods it is made of are released first if they have none; every release made is
    appended to `made`. Flushes only; the caller commits, which also ends the lock."""
    _finished(period, now)
    _lock(session, period)
    existing = find(session, period)
    if existing is not None:
        return existing, False
    started = time.monotonic()
    children = [release(session, child, now=now, k=k, actor=actor, made=made)[0]
                for child in period.children()]
    protected = _protect(session, period, children, k)
    return _store(session, period, protected, started=started, now=now, k=k, actor=actor,
                  made=made), True


def release_committed(session: Session, period: CalendarPeriod, *, now: datetime, k: int,
                      commit, actor=None, made: list | None = None
                      ) -> tuple[StatsRelease, bool]:
    """`release`, committed by `commit`, without keeping writers waiting while it computes
    (without `commit`, plain `release`: the caller's transaction).

    On PostgreSQL, `release` in one transaction: its lock is the period's alone, and
    another releaser of the period waits on it, then finds the release. SQLite has one
    writer at a time, and every transaction begins by taking it (database.py), so there a
    release held back every intake, sync and sign-in while it computed: minutes for a
    month of a single busy post. In a SQLite file, each release it needs (the parts of a
    month first) is therefore computed in a read snapshot, which blocks no writer, then
    stored and committed in a short transaction of its own. While it computes, the period
    is claimed (`StatsClaim`, `_claimed`): another releaser of it, such as a second
    manager asking for the same month, or `flask stats release` run by hand beside the
    daily job, waits for that release instead of computing it a second time. Records of a
    finished period never change in the snapshot's wake: they count where they reached the
    server, and a restore is caught by the parent's release (`ReleaseMismatch`)."""
    if commit is None or not database.file_sqlite(session.get_bind()):
        return in_turn(session, lambda: release(session, period, now=now, k=k, actor=actor,
                                                made=made), commit, made)
    _finished(period, now)
    commit()  # the caller's reads end here: they too held the writer's lock
    started = time.monotonic()
    with _snapshot(session) as reader:
        done = find(reader, period) is not None
    if not done:
        for child in period.children():
            release_committed(session, child, now=now, k=k, commit=commit, actor=actor,
                              made=made)
        done = not _claimed(session, period, commit)
    if done:
        return in_turn(session, lambda: (find(session, period), False), commit)
    try:
        with _snapshot(session) as reader:
            protected = _protect(reader, period, [find(reader, child)
                                                  for child in period.children()], k)

        def store():
            session.execute(sa.delete(StatsClaim).where(StatsClaim.period == period.kind,
                                                        StatsClaim.period_key == period.key))
            existing = find(session, period)
            if existing is not None:  # stored by a releaser that took the claim over
                return existing, False
            return _store(session, period, protected, started=started, now=now, k=k,
                          actor=actor, made=made), True

        return in_turn(session, store, commit, made)
    except BaseException:
        in_turn(session, lambda: session.execute(sa.delete(StatsClaim).where(
            StatsClaim.period == period.kind, StatsClaim.period_key == period.key,
            StatsClaim.holder == _holder())), commit)
        raise


def _holder() -> str:
    """This releaser: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _alive(holder: str) -> bool:
    """Whether the releaser `holder` names may still be computing. A SQLite file is read
    on one host; a holder on another cannot be looked at, and counts as alive."""
    host, pid, thread = holder.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return any(running.ident == int(thread) for running in threading.enumerate())
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _claimed(session: Session, period: CalendarPeriod, commit) -> bool:
    """Claim `period` for this releaser (committed), or False once its release exists.

    While another releaser that is still running holds the claim, waits for its release
    (up to LOCKED_WAIT_S; then claims it all the same, as if there had been no claim: both
    compute, and the release stored first stands). A claim whose releaser ended without
    storing or dropping it (a killed worker) is taken over."""
    me, deadline, waiting = _holder(), time.monotonic() + LOCKED_WAIT_S, False

    def attempt() -> str:
        if find(session, period) is not None:
            return "released"
        claim = session.get(StatsClaim, (period.kind, period.key))
        if claim is None:
            session.add(StatsClaim(period=period.kind, period_key=period.key, holder=me,
                                   claimed_at=datetime.now(UTC)))
        elif claim.holder != me:
            alive = _alive(claim.holder)
            if alive and time.monotonic() < deadline:
                return "wait"
            log.warning("release %s %s: taking over from a releaser that %s", period.kind,
                        period.key, f"is still computing it, after {LOCKED_WAIT_S:.0f} s"
                        if alive else "ended without storing it")
            claim.holder, claim.claimed_at = me, datetime.now(UTC)
        session.flush()
        return "claimed"

    while (state := in_turn(session, attempt, commit)) == "wait":
        if not waiting:
            log.info("release %s %s: waiting for another releaser computing it",
                     period.kind, period.key)
            waiting = True
        time.sleep(CLAIM_POLL_S)
    return state == "claimed"


@contextmanager
def _snapshot(session: Session):
    """A session of its own over the same database that only reads, in a snapshot."""
    reader = Session(bind=session.get_bind().execution_options(
        **{database.READ_SNAPSHOT: True}))
    try:
        yield reader
    finally:
        reader.close()


def _finished(period: CalendarPeriod, now: datetime) -> None:
    if not period.finished(now):
        raise ValueError(f"{period.kind} {period.key} has not finished")


def _store(session: Session, period: CalendarPeriod, protected, *, started: float,
           now: datetime, k: int, actor, made: list | None) -> StatsRelease:
    """Store a release `_protect` computed, with its cells and its audit event (flushed)."""
    counts, own, hidden, fell_back = protected
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
                         **({"nested": fell_back} if fell_back else {})})
    session.flush()
    if made is not None:
        made.append(release_)
    return release_


RANK = {periods.PART: 0, "month": 1, "week": 2, "quarter": 3, "year": 4}  # made of the ones before


def _withdrawn(session: Session, targets: list[CalendarPeriod]) -> list[StatsRelease]:
    """The releases that releasing `targets` again replaces: their own, those of the
    periods they are made of (down to parts), and those of every period made of any of
    these (a straddling week over a month's part, a quarter over the month, the year)."""
    existing = {(r.period, r.period_key): r for r in session.scalars(sa.select(StatsRelease))}
    gone, below = set(), list(targets)
    while below:
        inner = below.pop()
        gone.add((inner.kind, inner.key))
        below.extend(inner.children())
    grew = True
    while grew:
        grew = False
        for kind, key in existing.keys() - gone:
            if any((child.kind, child.key) in gone
                   for child in periods.from_key(kind, key).children()):
                gone.add((kind, key))
                grew = True
    return sorted((existing[item] for item in gone if item in existing),
                  key=lambda r: (RANK[r.period], r.starts_at))


def made_with_another_k(session: Session, k: int) -> list[tuple[str, str]]:
    """The periods a manager can ask for whose releases were made with another k than `k`
    (DESIGN.md: a new k applies to releases made afterwards), oldest first."""
    rows = session.execute(sa.select(StatsRelease.period, StatsRelease.period_key)
                           .where(StatsRelease.k != k, StatsRelease.period != periods.PART)
                           .order_by(StatsRelease.starts_at, StatsRelease.period))
    return [tuple(row) for row in rows]


def rerelease(session: Session, targets: list[CalendarPeriod], *, now: datetime, k: int,
              actor=None) -> tuple[list[tuple[str, str, int]], list[StatsRelease]]:
    """Withdraw the releases of finished periods and every release they touch
    (`_withdrawn`), and release them all again with `k`, in one transaction: (the
    releases withdrawn as (period, key, k), the new ones).
    DESIGN.md: an explicit, audited operator action.

    For when a release no longer stands: k was raised, records were written into the past
    (a restore: `ReleaseMismatch` names the period), or it was made by an older, weaker
    rule. Two months whose records both changed share a straddling week, so they are
    released again together. What a release published stays known to whoever read it: a
    new release stops serving it, it cannot withdraw it. Raises LookupError for a period
    with no release."""
    for period in targets:
        if not period.finished(now):
            raise ValueError(f"{period.kind} {period.key} has not finished")
        if find(session, period) is None:
            raise LookupError(f"{period.kind} {period.key} has no release to replace; "
                              "`flask stats release` makes it")
    locked, releases = set(), _withdrawn(session, targets)
    while {(item.period, item.period_key) for item in releases} - locked:
        # Parents before the periods they are made of, as `release` takes them, so that
        # no releaser waits on another waiting on it; then look again, since a parent
        # released meanwhile must go too.
        for item in sorted(releases, key=lambda r: (-RANK[r.period], r.period_key)):
            if (item.period, item.period_key) not in locked:
                _lock(session, periods.from_key(item.period, item.period_key))
                locked.add((item.period, item.period_key))
        releases = _withdrawn(session, targets)
    withdrawn = [(item.period, item.period_key, item.k) for item in releases]
    session.execute(sa.delete(StatsCell).where(
        StatsCell.release_id.in_([item.id for item in releases])))
    for item in releases:
        session.delete(item)
    session.flush()
    made = []
    for kind, key, _ in withdrawn:
        release(session, periods.from_key(kind, key), now=now, k=k, actor=actor, made=made)
    for period in targets:
        audit.record(session, "stats_rereleased", actor=actor, object_type="stats_release",
                     object_id=find(session, period).id, now=now,
                     detail={"period": period.kind, "key": period.key, "k": k,
                             "withdrawn": [f"{kind} {key} k={old}"
                                           for kind, key, old in withdrawn]})
    session.flush()
    return withdrawn, made


def first_record_at(session: Session) -> datetime | None:
    """When the oldest case or referral reached the server."""
    firsts = [session.scalar(sa.select(sa.func.min(model.created_at)))
              for model in (Case, Referral)]
    firsts = [moment for moment in firsts if moment is not None]
    return min(firsts) if firsts else None


def release_all(session: Session, *, now: datetime, k: int, kinds=ORDER, actor=None,
                between=None, refused: list | None = None) -> list[StatsRelease]:
    """Release every finished period that has none yet; `between` commits after each.

    A period whose parts' records changed after their release (`ReleaseMismatch`) stops
    everything, unless `refused` is given (with `between`): then it is logged and
    appended there as (period, message), and the periods after it are released all the same, so one
    restored month does not hold back every week and month that follows it."""
    if refused is not None and between is None:
        raise ValueError("going on past a refused period needs a commit after each")
    made = []
    first = in_turn(session, lambda: first_record_at(session), between, made)
    if first is None:
        return made
    for kind in [kind for kind in ORDER if kind in kinds]:
        for period in periods.finished_between(kind, first, now):
            try:
                release_committed(session, period, now=now, k=k, commit=between, actor=actor,
                                  made=made)
            except ReleaseMismatch as exc:
                if refused is None:
                    raise
                log.warning("release %s %s refused: %s", period.kind, period.key, exc)
                refused.append((period, str(exc)))
    if made and between:
        analyze(session)
    return made


def in_turn(session: Session, work, commit, made: list | None = None):
    """`work`, then `commit` (if any); on SQLite, with `commit`, again while another
    writer holds the database. Returns what `work` returned. When it fails, what it did
    is rolled back, and the releases it appended to `made` are taken out again.

    SQLite has one writer at a time, and `rerelease` holds it from start to end (seconds
    to minutes). A second releaser would give up after the busy timeout, and its waiter
    is not woken in turn: it tries again here until LOCKED_WAIT_S has passed, then gives
    up. Whatever the other released meanwhile, `release` finds and leaves as it is."""
    if commit is None:
        return work()
    deadline = time.monotonic() + LOCKED_WAIT_S
    made = [] if made is None else made
    before = len(made)
    while True:
        try:
            done = work()
            commit()
            return done
        except Exception as exc:
            session.rollback()
            del made[before:]  # rolled back
            if not isinstance(exc, sa.exc.OperationalError) or (
                    "database is locked" not in str(exc.orig) or time.monotonic() > deadline):
                raise
            time.sleep(0.2)


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
