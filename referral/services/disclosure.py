"""Disclosure control of a statistics release: which cells to publish as suppressed.

Pure: cells and additive lines in, a suppression pattern out (DESIGN.md, "Statistics and
disclosure control"). A cell is any hashable key with a true count; a `Line` is a relation an
intruder knows, `total == sum(parts)` (the cells along one dimension and their marginal, or
the months of a quarter and the quarter). Cells of the releases this one depends on are
`frozen`: already published or hidden, they never change. Multi-valued dimensions simply
come with no lines. A key in a line but not in `counts` counts 0; zero cells may also be
left out of the lines altogether (published zeros add nothing, and are never hidden), which
shrinks large sparse tables.

`protect`:
1. primary suppression: every non-frozen cell with a count in 1..k-1 (0 is published);
2. complementary suppression, the lines whose hidden cells are smallest first, until no
   line has exactly one hidden cell, and no line with a published total lets a small hidden
   part's maximum stay below k (`_Suppressor`: an intruder knows every hidden cell is at
   least 1, since zeros are published, so hidden parts must leave room). In such a line,
   hide a non-frozen published part: the one that settles the line alone, opening the
   fewest new lines with a single hidden cell (its other lines holding none, minus those
   holding one, which it closes: the classic rectangle), then the smallest; if no part
   settles it alone, the largest, and the line is looked at again. The "fewest opened" key
   is ours: on the benchmark it hid 6-19% fewer cells than "smallest" alone. A zero is
   never hidden: it hides no one, and an intruder then knows every hidden cell holds
   someone (`disclosure_audit`). A line whose other cells are all frozen cannot be fixed here;
3. the audit (`disclosure_audit`), over this release and its dependencies together; for
   every exposed small cell (the first ENOUGH found per round: the rest are often settled
   by what those hide, and the last round is always a complete audit), hide a non-frozen
   published cell in a line that holds it down: for an exposure propagation proves, a line
   whose bound keeps it below k, or the line above a hidden total that does
   (`_Suppressor.loosening`); for one only an LP proves, a line with a non-zero dual in its
   maximum, a cell there whose room covers what the maximum lacks (`_Suppressor.among`);
   else a cell of its lines (above 1 first, then fewest lines opened, then smallest; if
   none, one of the lines reached through the hidden cells around it). On the benchmark's
   release this hid 30.3% of the non-zero cells instead of 34.9%, and 1.0% of the count
   instead of 1.8% (the audit hid 347 cells with 485 LPs, against 380 with 1,166 before
   the duals' rule and the longer batches). Then close the lines again and audit again.
   Rounds whose exposures propagation alone proves (`disclosure_audit.Propagation`) need
   no LP and come first; LP rounds only once propagation finds nothing to fix. Each round
   hides at least one more cell, so the loop ends; a cell still exposed when no exposed
   cell has a candidate left is exposed by the frozen releases alone (nothing this release
   does reaches it) and is reported in `Pattern.unresolved`.
"""

import heapq
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from referral.services.disclosure_audit import EPS, Auditor, Holding, Propagation, Table, time_left
from referral.services.disclosure_audit import OutOfTime as OutOfTime  # raised by protect

Key = Hashable
# Exposed cells to act on per audit round. Proving a cell exposed is the costly part (LPs
# up to its whole component), and a few more hidden cells usually settle the rest: on a
# sparse month, asking for every exposure first cost 5,000 LPs where 20 cells sufficed.
ENOUGH = 16
DEFER = -1  # `nearest_candidate`: look again after the next audit
# `protect_each`: past this many cells in one of its jobs, the others run in processes of
# their own. Starting one costs about a second; a job this large takes minutes.
SIDE_BY_SIDE = 20_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    """An additive relation an intruder knows: total == sum(parts)."""

    total: Key
    parts: tuple[Key, ...]


@dataclass
class Pattern:
    """What to publish as suppressed in this release, and how it was found."""

    hidden: set[Key]
    primary: set[Key]
    rounds: int
    complementary: int = 0  # cells hidden by the line rule (step 2)
    audit_added: int = 0  # cells hidden because the audit found an exposure (step 3)
    lp_calls: int = 0
    unresolved: set[Key] = field(default_factory=set)
    published_back: int = 0  # hidden cells the audit then let go (`publish_back`)


def protect(counts: Mapping[Key, int], lines: Iterable[Line], *, k: int,
            frozen: Mapping[Key, bool] | None = None, hide: Iterable[Key] = (),
            deadline: float | None = None, least: Callable[[Key], int] | None = None,
            publish_back: Callable[[Key], Any] | None = None) -> Pattern:
    """The suppression pattern of one release; `frozen` maps dependency cells to hidden,
    and cells in `hide` are hidden from the start (with the primary ones). Raises
    OutOfTime once `time.monotonic()` passes `deadline`, if one is given.

    A line with a single part says two cells are one number (a facility lies in one
    country, so facility x country x nationality repeats facility x nationality; a quarter
    with one active month repeats that month). Hiding both copies of a number protects
    nothing, yet it satisfies the line rule, so such cells are merged into one first, and
    hidden or published together.

    `least(key)` is what an intruder knows a hidden cell holds at least: 1 by default (zeros
    are published, so a listed cell holds someone), 0 for the cells of a release that lists
    zeros beside its hidden ones (`disclosure_audit`). Copies merged into one cell hold
    someone if one of them is known to.

    `publish_back(key)` (None: not a candidate) orders the complementary cells to publish
    again once the pattern is safe, smallest first: each one the audit then still passes
    is published. The line rule is a heuristic, and what it hid for one exposure is often
    not needed once the audit's own additions are in; a release's totals and one-dimension
    tables are what managers read first. Each cell costs an audit, so this stops at
    `deadline` with the last safe pattern (it never raises OutOfTime itself).
    Skipped when some exposure is `unresolved`."""
    if k < 1:
        raise ValueError("k must be at least 1")
    frozen = frozen or {}
    lines = list(lines)
    same = _Copies(lines)
    if not same.parent:
        return _protect(counts, lines, k=k, frozen=frozen, hide=hide, deadline=deadline,
                        least=least, publish_back=publish_back)
    keys = {*counts, *frozen, *(key for line in lines for key in (line.total, *line.parts))}
    merged_least: dict[Key, int] = {}
    if least is not None:  # copies of one number: known to hold someone if one of them is
        for key in keys:
            one = same.find(key)
            merged_least[one] = max(merged_least.get(one, 0), least(key))
    merged_rank: dict[Key, Any] = {}
    if publish_back is not None:  # copies of one number: ranked as the first of them
        for key in keys:
            if (rank := publish_back(key)) is not None:
                one = same.find(key)
                merged_rank[one] = min(merged_rank.get(one, rank), rank)
    merged_frozen: dict[Key, bool] = {}
    for key, was_hidden in frozen.items():
        one = same.find(key)
        merged_frozen[one] = merged_frozen.get(one, False) or was_hidden
    pattern = _protect({same.find(key): count for key, count in counts.items()},
                       [Line(same.find(line.total), tuple(same.find(p) for p in line.parts))
                        for line in lines if len(line.parts) != 1],
                       k=k, frozen=merged_frozen, hide={same.find(key) for key in hide},
                       deadline=deadline, least=merged_least.__getitem__ if least else None,
                       publish_back=merged_rank.get if publish_back else None)

    def expand(merged: set[Key]) -> set[Key]:
        return {key for key in keys if same.find(key) in merged}

    pattern.hidden = expand(pattern.hidden | {key for key, h in merged_frozen.items() if h}
                            ) - set(frozen)
    pattern.primary = expand(pattern.primary) - set(frozen)
    pattern.unresolved = expand(pattern.unresolved)
    return pattern


def protect_each(jobs: Mapping[Hashable, Mapping[str, Any]],
                 side_by_side: int | None = None) -> dict[Hashable, "Pattern | OutOfTime"]:
    """`protect(**job)` for each of `jobs`, which share no cell and no line (the metrics
    of a release): {name: its Pattern, or the OutOfTime it raised}.

    Each job's pattern depends on its own cells and lines alone, so they can be found
    side by side: with two cores or more, once one job holds at least `side_by_side` cells
    (SIDE_BY_SIDE by default), all but the largest run in processes of their own, as many
    at once as there are cores to spare, and the largest here. A job's arguments then
    travel by pickle: no lambdas. The processes come from a fork server, so they inherit
    none of this process's threads, locks or connections (a release may run in a web
    worker beside the scheduler). Any other exception a job raises is raised here, once
    every job has ended. A deadline is `time.monotonic()`'s, which every process shares.
    As with any multiprocessing, the program's main module must keep its work under
    `if __name__ == "__main__":` (flask, gunicorn and the benchmarks do)."""
    names = list(jobs)
    threshold = SIDE_BY_SIDE if side_by_side is None else side_by_side
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    if (len(names) < 2 or cores < 2
            or "forkserver" not in multiprocessing.get_all_start_methods()
            or max(len(job["counts"]) for job in jobs.values()) < threshold):
        return {name: _protect_job(jobs[name]) for name in names}
    largest, *others = sorted(names, key=lambda name: -len(jobs[name]["counts"]))
    with ProcessPoolExecutor(max_workers=min(cores - 1, len(others)),
                             mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_die_with_parent) as pool:
        futures = {name: pool.submit(_protect_job, jobs[name]) for name in others}
        found = {largest: _protect_job(jobs[largest])}
        found |= {name: future.result() for name, future in futures.items()}
    return {name: found[name] for name in names}


def _die_with_parent() -> None:
    """In a process of `protect_each`: end as soon as the process that asked ends. Else a
    releaser killed mid-release (a web worker restarted, a benchmark's time limit) would
    leave its jobs computing for minutes. The fork server and its other children keep each
    other alive, so it is the pipe from the asker that is watched: it closes when the
    asker ends, however it ends."""
    asker = multiprocessing.parent_process()
    if asker is None:
        return

    def watch():
        multiprocessing.connection.wait([asker.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-asker", daemon=True).start()


def _protect_job(job: Mapping[str, Any]) -> "Pattern | OutOfTime":
    try:
        return protect(**job)
    except OutOfTime as late:
        return late


class _Copies:
    """Union-find over the cells that single-part lines make equal."""

    def __init__(self, lines: list[Line]):
        self.parent: dict[Key, Key] = {}
        for line in lines:
            if len(line.parts) == 1:
                a, b = self.find(line.total), self.find(line.parts[0])
                if a != b:
                    self.parent[b] = a

    def find(self, key: Key) -> Key:
        root = key
        while root in self.parent:
            root = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root


def _protect(counts: Mapping[Key, int], lines: list[Line], *, k: int,
             frozen: Mapping[Key, bool], hide: Iterable[Key] = (),
             deadline: float | None = None, least: Callable[[Key], int] | None = None,
             publish_back: Callable[[Key], Any] | None = None) -> Pattern:
    table = Table(counts, lines, extra=frozen, least=least)
    fixed = table.mask(frozen)
    hidden = table.mask(key for key, was_hidden in frozen.items() if was_hidden)
    small = (table.values >= 1) & (table.values <= k - 1)
    fixed |= _told_already(table, fixed & ~hidden) & ~small
    primary = small & ~fixed
    hidden |= primary | (table.mask(hide) & ~fixed & (table.values > 0))
    started = time.monotonic()
    lines_rule = _Suppressor(table, fixed, hidden, k)
    complementary = lines_rule.close_lines()
    log.debug("%d cells, %d lines, %d primary; line rule hid %d more in %.1f s",
              len(table.keys), table.matrix.shape[0], int(primary.sum()), complementary,
              time.monotonic() - started)
    auditor = Auditor(table, k, deadline)
    rounds = added = 0
    enough: int | None = ENOUGH
    stuck: set[int] = set()  # exposed by propagation with nothing left to hide for them
    before = np.inf  # exposures found by the last round's propagation
    while True:
        time_left(deadline)
        rounds += 1
        unresolved: set[int] = set()
        more = 0
        # Propagation proves most exposures in one vectorised pass: LPs only once it has
        # nothing left to fix.
        propagation = Propagation(table, hidden)
        proven = propagation.exposed(k)
        exposed = set(np.flatnonzero(proven).tolist()) - stuck
        cheap = bool(exposed)
        if not cheap:  # (propagation is not run twice on the same pattern)
            exposed = auditor.exposed(hidden, enough=enough, proven=proven)
        # After propagation, a cell near a line changed this round waits for the next
        # audit: what was hidden for another cell often protects it too (seven hidden 1s
        # under a hidden 7 need one more cell, not seven), unless the last round's waiting
        # left as many exposed. Not after LPs: a round of them costs more than a cell.
        # Stuck is only what is exposed when nothing more can be hidden.
        touched = np.zeros(len(lines_rule.total), dtype=bool)
        defer = cheap and len(exposed) < before  # else waiting did not pay last round
        before = len(exposed) if cheap else np.inf
        for cell in sorted(exposed):
            candidate = (lines_rule.loosening(cell, propagation, k, touched if defer else None)
                         if cheap else lines_rule.among(auditor.holding.get(cell)))
            if candidate is None:
                candidate = lines_rule.nearest_candidate(cell, touched if defer else None)
            if candidate is None:
                unresolved.add(cell)
            elif candidate != DEFER:
                lines_rule.hide(candidate)
                touched[lines_rule.lines_of(candidate)] = True
                more += 1
        added += more
        complementary += lines_rule.close_lines()
        log.debug("round %d (%s): %d exposed, %d hidden more, %d hidden, %d LPs, %.1f s",
                  rounds, "propagation" if cheap else "audit", len(exposed), more,
                  int(hidden.sum()), auditor.lp_calls, time.monotonic() - started)
        if cheap:
            stuck |= unresolved  # the LP rounds see them again, and report them
            continue
        if not more:
            if enough is None or not unresolved:
                break  # a complete audit with nothing left to hide
            enough = None  # only stuck cells among the first found: look at every one
            continue
        if enough is None or len(exposed) < enough:
            enough = ENOUGH
        else:  # many more, probably: rounds cost about the same however many they take
            enough *= 2
    back = 0
    if publish_back is not None and not unresolved:
        back = _published_back(table, auditor, hidden, fixed | primary, publish_back, k,
                               deadline)
    return Pattern(
        hidden=_keys(table, hidden & ~fixed), primary=_keys(table, primary), rounds=rounds,
        complementary=complementary, audit_added=added, lp_calls=auditor.lp_calls,
        unresolved={table.keys[i] for i in unresolved}, published_back=back)


def _published_back(table: Table, auditor: Auditor, hidden: np.ndarray, kept: np.ndarray,
                    rank: Callable[[Key], Any], k: int, deadline: float | None) -> int:
    """Publish, one at a time in `rank` order, the hidden cells outside `kept` whose
    publication still passes a complete audit; `hidden` is updated in place. Returns how
    many. A cell that propagation shows exposing needs no LP. The auditor's memory of
    components stays valid (an answer depends only on a component's cells); its witnesses
    lapse at each cell published."""
    ranked = sorted((order, i) for i in np.flatnonzero(hidden & ~kept)
                    if (order := rank(table.keys[i])) is not None)
    back = 0
    for _, cell in ranked:
        trial = hidden.copy()
        trial[cell] = False
        try:
            time_left(deadline)
            if Propagation(table, trial).exposed(k).any() or auditor.exposed(trial, enough=1):
                continue  # an empty answer is a complete one
        except OutOfTime:
            break
        hidden[cell] = False
        back += 1
    return back


def nested(counts: Mapping[Key, int], sums: Iterable[Line], frozen: Mapping[Key, bool], *,
           k: int) -> set[Key]:
    """The cells of a parent period to hide so that it tells nothing its parts had not.

    `sums` are the lines making a cell of this release the sum of cells of the releases
    beneath it (a quarter's cell and its months' cells, DESIGN.md); `frozen` says which of
    those are hidden. Hidden: each such cell that is small, or that has a hidden part.

    When every cell of the release is such a sum (its tables and lines are those of its
    parts), and the releases beneath were protected with the same k, this pattern passes
    the joint audit without running it:
    - a published cell is the sum of published parts, so the intruder knew it;
    - a line of the release is the sum of the same line in each part, so once each hidden
      cell stands for the sum of its parts, the release adds no relation: what the
      intruder can tell of the parts is what the releases beneath told, and each of those
      passed its own audit;
    - a small cell has a hidden part (its parts are 0 or small, and not all 0), which
      reaches k or more in some point the releases beneath allow, so the cell does too;
      a cell with a hidden part of k or more is not small.
    Where a release also holds cells that are not sums, pass this pattern to `protect` as
    `hide`: those cells can narrow the sums, so the audit still decides. (A referral's
    status at the end of a quarter is such a cell; `stats` veils those instead.)

    The price: such a release publishes only what adding up its parts would give. A
    quarter's cell of 3 + 2 + 4 people stays hidden, where the joint audit may show it.
    On a quarter of 3,000 cases (2025-Q1 of bench/stats.py's data), this hid 18,806 of
    its 18,847 case cells (99.8%) with no LP; the joint audit had not ended after an
    hour."""
    hide = set()
    for line in sums:
        if 1 <= counts.get(line.total, 0) <= k - 1 or any(frozen[p] for p in line.parts):
            hide.add(line.total)
    return hide


def _told_already(table: Table, published: np.ndarray) -> np.ndarray:
    """The cells the published frozen cells alone determine (a quarter's cell when its
    months were all published), by iterative elimination: they are published as they are,
    since hiding them would protect nothing and cost a cell."""
    by_line = (table.matrix != 0).astype(np.int64).tocsr()
    by_cell = by_line.tocsc()
    known = published.copy()
    unknown = by_line @ (~known).astype(np.int64)
    ready = list(np.flatnonzero(unknown == 1))
    while ready:
        line = ready.pop()
        if unknown[line] != 1:
            continue
        cells = by_line.indices[by_line.indptr[line]:by_line.indptr[line + 1]]
        cell = cells[~known[cells]][0]
        known[cell] = True
        touched = by_cell.indices[by_cell.indptr[cell]:by_cell.indptr[cell + 1]]
        unknown[touched] -= 1
        ready.extend(touched[unknown[touched] == 1])
    return known & ~published


def audit(counts: Mapping[Key, int], lines: Iterable[Line], hidden: set[Key], *,
          k: int, least: Callable[[Key], int] | None = None) -> set[Key]:
    """The small hidden cells an intruder derives or bounds below k; empty is safe."""
    table = Table(counts, lines, extra=hidden, least=least)
    exposed = Auditor(table, k).exposed(table.mask(hidden))
    return {table.keys[i] for i in exposed}


def information_loss(counts: Mapping[Key, int], hidden: Iterable[Key]) -> dict[str, float]:
    """Share of the non-zero cells hidden, and share of the total count hidden (one table)."""
    hidden = set(hidden)
    nonzero = [key for key, count in counts.items() if count > 0]
    total = sum(counts[key] for key in nonzero)
    lost = [key for key in nonzero if key in hidden]
    return {"cells": len(lost) / len(nonzero) if nonzero else 0.0,
            "people": sum(counts[key] for key in lost) / total if total else 0.0}


def _keys(table: Table, mask: np.ndarray) -> set[Key]:
    return {table.keys[i] for i in np.flatnonzero(mask)}


def _opening(held: np.ndarray) -> np.ndarray:
    """What a line adds to `_Suppressor.opened` of each of its cells, by how many hidden
    cells it holds: hiding one more in a line holding none leaves it with a single hidden
    cell (opened, +1); in a line holding one, it closes it (-1); else it changes nothing.
    Fewer is better: the classic rectangle."""
    return (held == 0).astype(np.int64) - (held == 1)


class _Suppressor:
    """Hides cells of this release, tracking what each line holds hidden.

    A line needs more hidden when it holds exactly one hidden cell (derived), or when its
    total is published and its hidden parts include a small one whose maximum along this
    line alone stays below k. Every hidden cell is at least 1 to an intruder (zeros are
    published), so a line's hidden parts of true values v_i, summing to R, let one of them
    reach at most R - (m - 1): the smallest cell is protected by this line only when the
    "slack" sum(v_i - 1) reaches k - 1. Hiding a 1 adds no slack; hiding the total
    lifts the bound (then only the total's own lines bound it). A cell that may be empty
    (`Table.least` 0) adds its whole value.
    """

    def __init__(self, table: Table, fixed: np.ndarray, hidden: np.ndarray, k: int):
        self.k = k
        self.by_line = (table.matrix != 0).astype(np.int64)
        self.by_cell = self.by_line.tocsc()
        self.fixed = fixed
        self.hidden = hidden  # shared with the caller, updated in place
        self.values = table.values
        self.small = (self.values >= 1) & (self.values <= k - 1)
        self.slack = np.maximum(self.values - table.least, 0)
        self.signed = table.matrix.tocsr()
        coo = table.matrix.tocoo()
        self.total = np.full(table.matrix.shape[0], -1, dtype=np.int64)  # -1: cancelled out
        self.total[coo.row[coo.data > 0]] = coo.col[coo.data > 0]
        parts = (table.matrix < 0).astype(np.int64)
        self.line_hidden = self.by_line @ hidden.astype(np.int64)
        self.line_slack = parts @ (self.slack * hidden)
        self.line_small = parts @ (self.small & hidden).astype(np.int64)
        has_total = self.total >= 0
        self.total_hidden = has_total & hidden[np.where(has_total, self.total, 0)]
        # Per cell, the lines hiding it would open (holding no hidden cell) minus those it
        # would close (holding one): kept up to date as lines change (`hide`).
        self.opened = self.by_cell.T @ _opening(self.line_hidden)
        self.queue: list[tuple[int, int]] = []
        for line in np.flatnonzero(self._needs(np.arange(len(self.total)))):
            cells = self._cells(self.by_line, line)
            self._push(line, int(self.values[cells[hidden[cells]]].min()))

    def _cells(self, matrix, i: int) -> np.ndarray:
        return matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]]

    def _needs(self, lines: np.ndarray) -> np.ndarray:
        return (self.line_hidden[lines] == 1) | (
            ~self.total_hidden[lines] & (self.line_small[lines] > 0)
            & (self.line_slack[lines] < self.k - 1))

    def lines_of(self, cell: int) -> np.ndarray:
        return self._cells(self.by_cell, cell)

    def _push(self, line: int, value: int) -> None:
        heapq.heappush(self.queue, (value, int(line)))

    def hide(self, cell: int) -> None:
        """Hide one cell; lines that now need more join the queue."""
        self.hidden[cell] = True
        lines = self._cells(self.by_cell, cell)
        before = _opening(self.line_hidden[lines])
        self.line_hidden[lines] += 1
        for line, change in zip(lines, _opening(self.line_hidden[lines]) - before,
                                strict=True):
            if change:
                self.opened[self._cells(self.by_line, line)] += change
        is_total = self.total[lines] == cell
        self.total_hidden[lines[is_total]] = True
        parts = lines[~is_total]
        self.line_slack[parts] += self.slack[cell]
        self.line_small[parts] += int(self.small[cell])
        for line in lines[self._needs(lines)]:
            self._push(line, int(self.values[cell]))

    def _free(self, cells: np.ndarray) -> np.ndarray:
        return cells[~self.hidden[cells] & ~self.fixed[cells] & (self.values[cells] >= 1)]

    def _best(self, free: np.ndarray) -> int | None:
        """Among free cells: above 1 first (a 1 adds no slack), fewest lines opened,
        smallest."""
        if not len(free):
            return None
        order = np.lexsort((free, self.values[free], self.opened[free], self.values[free] == 1))
        return int(free[order[0]])

    def _cheapest(self, cells: np.ndarray) -> int:
        """Fewest lines opened, then smallest."""
        return int(cells[np.lexsort((cells, self.values[cells], self.opened[cells]))[0]])

    def _largest(self, cells: np.ndarray) -> int:
        return int(cells[np.lexsort((cells, -self.values[cells]))[0]])

    def _pick(self, line: int) -> int | None:
        """The cell to hide for a line that needs more, or None (the audit decides)."""
        total = int(self.total[line])
        free = self._free(self._cells(self.by_line, line))
        parts = free[free != total]
        if self.total_hidden[line]:  # only the total is hidden: any part opens the line
            return self._best(parts)
        deficit = self.k - 1 - int(self.line_slack[line]) if self.line_small[line] else 0
        covering = parts[self.slack[parts] >= deficit] if deficit else free
        if len(covering):  # one cell settles the line: the cheapest such
            return self._cheapest(covering)
        if len(parts):  # none settles it alone: the largest, and the line comes back
            return self._largest(parts)
        return total if total in free else None

    def close_lines(self) -> int:
        """Step 2: hide until no fixable line needs more; returns how many were hidden."""
        count = 0
        while self.queue:
            _, line = heapq.heappop(self.queue)
            if not self._needs(np.array([line]))[0]:
                continue
            candidate = self._pick(line)
            if candidate is not None:  # else every other cell is frozen: the audit decides
                self.hide(candidate)
                count += 1
        return count

    def loosening(self, cell: int, propagation: Propagation, need: float,
                  touched: np.ndarray | None = None, depth: int = 0,
                  seen: set[int] | None = None) -> int | None:
        """A free cell whose hiding loosens a line that keeps `cell` below `need` in
        `propagation`, or None (then `nearest_candidate`); DEFER as in `nearest_candidate`.

        Where the cell is a part: a published part of the line with room enough (value - 1,
        since hidden it is at least 1), else its published total, else the line's hidden
        total must reach higher first (the same question, one line up), else the largest
        part. Where the cell is a hidden total: a published part, else a hidden part must
        reach higher. Hiding a cell merely near an exposed one often leaves the line that
        holds it down as it was, round after round. A hidden cell already asked about in
        this search (`seen`) is not asked again: a cell of a three-dimension table lies in
        a dozen lines, and asking again at each depth took one demo part 150 s."""
        seen = {cell} if seen is None else seen
        for line, bound in propagation.holding(cell, need):
            if touched is not None and touched[line]:
                return DEFER
            total = int(self.total[line])
            members = self._cells(self.by_line, line)
            free = self._free(members)
            parts = free[free != total]
            deficit = need - bound
            if total == cell:
                if len(parts):
                    return self._best(parts)
                inside = members[self.hidden[members] & (members != cell)]
            else:
                covering = parts[self.slack[parts] >= deficit]
                if len(covering):
                    return self._cheapest(covering)
                if total in free:
                    return total
                inside = np.array([total]) if total >= 0 and self.hidden[total] else []
            if depth < 3:
                for other in inside[:4]:  # the search stays small
                    if int(other) in seen:
                        continue
                    seen.add(int(other))
                    found = self.loosening(int(other), propagation,
                                           propagation.upper(int(other)) + deficit,
                                           touched, depth + 1, seen)
                    if found is not None:
                        return found
            if total != cell and len(parts):
                return self._largest(parts)
        return None

    def among(self, holding: Holding | None) -> int | None:
        """A free cell of the lines an LP showed holding a cell down, or None: the cheapest
        that can lift the maximum to k, else the one that lifts it most.

        The duals y of that maximum bound it as long as they stay feasible: hiding a cell
        j with column a_j (its +1 and -1 in those lines) keeps them so when y.a_j <= 0, and
        then lifts the maximum by at most -y.a_j (v_j - f_j), v_j - f_j being its room
        (hidden, it is at least its floor f_j, 1 unless listed zeros make it 0); with
        y.a_j > 0 the bound is gone. A cell in two holding lines
        whose duals cancel lifts nothing. Choosing the smallest cell of those lines, the
        same cell came back exposed round after round."""
        if holding is None or not len(holding.lines):
            return None
        free = self._free(np.unique(self.by_line[holding.lines].indices))
        if not len(free):
            return None
        side = (self.signed[holding.lines][:, free].T @ holding.weights)
        reach = np.where(side > EPS, np.inf, np.maximum(-side, 0) * self.slack[free])
        covering = free[reach >= holding.short - EPS]
        if len(covering):
            return self._cheapest(covering)
        if (reach > EPS).any():
            return int(free[np.lexsort((free, -reach))[0]])
        return self._best(free)

    def nearest_candidate(self, cell: int, touched: np.ndarray | None = None) -> int | None:
        """The best free cell in the lines of `cell`, else one line further, and so on.

        With `touched` (a mask over lines), returns DEFER as soon as the search reaches a
        touched line before finding a candidate: what changed there may already protect
        the cell, and the next audit will tell."""
        seen_cells = np.array([cell])
        seen_lines = np.empty(0, dtype=np.int64)
        frontier = seen_cells
        while len(frontier):
            lines = np.setdiff1d(self.by_cell[:, frontier].indices, seen_lines)
            if not len(lines):
                return None
            if touched is not None and touched[lines].any():
                return DEFER
            seen_lines = np.union1d(seen_lines, lines)
            cells = np.unique(self.by_line[lines].indices)
            candidate = self._best(self._free(cells))
            if candidate is not None:
                return candidate
            frontier = np.setdiff1d(cells[self.hidden[cells]], seen_cells, assume_unique=True)
            seen_cells = np.union1d(seen_cells, frontier)
        return None
