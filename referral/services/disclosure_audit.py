"""The intruder of disclosure control: which hidden small counts can be derived or narrowed.

Cells are indexed once (`Table`); a line `total == sum(parts)` is a row of `matrix` with +1
on the total and -1 on each part, so `matrix @ values == 0`. `Auditor.exposed(hidden)` attacks
a pattern as DESIGN.md says: the unknowns are the hidden cells, one connected component (cells
sharing a line) at a time; iterative elimination first, then linear programming (HiGHS) on
what is left. Since the true counts satisfy every line, each equation reads
`A x == A v` with `A` the hidden columns and `v` their true values, so the published values
never need substituting one by one. A component's answer depends only on its set of cells,
so it is cached: after hiding a few more cells, only the components that changed are solved.

What the intruder knows of an unknown: it is a whole number, and it is at least 1. Zeros
are published (DESIGN.md: primary suppression is 1..k-1, and a combination that is not listed
is 0), and `protect` never hides one, so every suppressed cell an answer lists holds someone.
DESIGN.md's "non-negative" is the weaker, wrong bound here: with it, a hidden 2 beside a
hidden 1 under a published 3 looks safe (0 <= x <= 3), while anyone reading the rows knows
both are at least 1, so x is 2. A small hidden cell is therefore never protected by its
minimum (always >= 1): only a maximum of k or more protects it.

A release that also lists zeros as suppressed (in the lines that hold a hidden cell) tells
no one which listed cells hold someone: there `Table(least=...)` gives its cells a floor of
0. The listed zeros themselves need not be unknowns: taken as the zeros they are, the
intruder modelled here knows more than the real one, which is the safe side. The criterion
stays the same, reaching k: a cell that may be empty but cannot reach k is still exposed.

LPs are the cost, so they come last and are few: interval propagation (`bounded`) proves
most exposures without one; a small cell is safe as soon as some feasible point has it at k
or more, and every LP solution is such a point for every cell at once; each component's LP
stays loaded in HiGHS, so whether a cell can reach k, or its own maximum, starts from the
last basis (`_Model`). Bounds
are rounded inward with a tolerance of 1e-6, above HiGHS's feasibility tolerance (1e-7) and
far below the 1 between two whole counts.

Two shortcuts keep a release of a million records tractable, both sound: a component whose
lines hold no published count (`A x == 0`) needs no LP, since any multiple of the true
counts fits it and nothing in it is bounded; and a component of more than LARGE unknowns
is solved by blocks (`_blocks`), which can only call more cells exposed than the whole LP
would, never fewer. Below LARGE the audit is exact.
"""

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import cached_property
from typing import NamedTuple

import highspy
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

EPS = 1e-6
BATCH_MIN = 8  # batch LPs go on while each settles at least this many open cells
# An LP from the last basis taking longer than HOT_OVER_COLD times the model's last run from
# scratch (at least HOT_MIN_S, at most HOT_START_S) is started again from scratch.
HOT_START_S = 2.0
HOT_OVER_COLD = 2.0
HOT_MIN_S = 0.05
COLD_START_S = 120.0  # an LP from scratch taking longer has no answer (the safe side)
LARGE = 12_000  # unknowns of a component beyond which its LP is solved by blocks (`_blocks`)
NEAR = 2  # rings of lines around a cell in the relaxation that may prove it exposed
NEAR_ABOVE = 1_000  # unknowns of an LP below which its own maxima are cheaper than that
GROUP_MAX = 64  # cells asked to reach k together (`_Bounds.exposed`)
OPTIMAL = highspy.HighsModelStatus.kOptimal


class OutOfTime(Exception):
    """The audit reached its deadline before it could answer."""


def time_left(deadline: float | None) -> float:
    """Seconds left before `deadline` (inf without one); OutOfTime once it has passed."""
    if deadline is None:
        return float("inf")
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutOfTime
    return left


class Table:
    """Every cell of the lines and counts, indexed; missing counts are 0."""

    def __init__(self, counts: Mapping[Hashable, int], lines: Iterable, extra: Iterable = (),
                 least: Callable[[Hashable], int] | None = None):
        index: dict[Hashable, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        data: list[float] = []
        n_lines = 0
        for line in lines:
            for key, sign in ((line.total, 1.0), *((part, -1.0) for part in line.parts)):
                rows.append(n_lines)
                cols.append(index.setdefault(key, len(index)))
                data.append(sign)
            n_lines += 1
        for key in (*counts, *extra):
            index.setdefault(key, len(index))
        self.index = index
        self.keys = list(index)
        self.values = np.array([counts.get(key, 0) for key in self.keys], dtype=np.int64)
        if (self.values < 0).any():
            raise ValueError("counts must be non-negative")
        # What an intruder knows a hidden cell holds at least (`least` of its key; 1 by
        # default): 1 where a listed cell always holds someone, 0 where listed zeros make
        # any listed cell possibly empty.
        self.least = (np.ones(len(self.keys), dtype=np.int64) if least is None
                      else np.array([least(key) for key in self.keys], dtype=np.int64))
        if not np.isin(self.least, (0, 1)).all():
            raise ValueError("a cell is known to hold at least 0 or 1")
        shape = (n_lines, len(self.keys))
        self.matrix = sparse.csr_array((data, (rows, cols)), shape=shape)  # sums repeats
        self.matrix.eliminate_zeros()
        if (self.matrix @ self.values.astype(float) != 0).any():
            raise ValueError("counts do not add up along their lines")
        self.by_cell = self.matrix.tocsc()

    def mask(self, keys: Iterable[Hashable]) -> np.ndarray:
        """A boolean vector over the cells, true for `keys`."""
        out = np.zeros(len(self.keys), dtype=bool)
        out[[self.index[key] for key in keys]] = True
        return out


def components(a: sparse.csr_array) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The connected components of a rows x cols incidence: (their columns, their rows)."""
    n_rows, n_cols = a.shape
    link = abs(a)
    graph = sparse.block_array([[None, link.T], [link, None]], format="csr")
    count, labels = connected_components(graph, directed=False)
    return _groups(labels[:n_cols], count), _groups(labels[n_cols:], count)


def _groups(labels: np.ndarray, size: int) -> list[np.ndarray]:
    """Positions grouped by label, indexed by label (empty where a label has none)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(size + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(size)]


class Holding(NamedTuple):
    """Why an LP calls a cell exposed: the lines of non-zero dual in its maximum, those
    duals, and how far the maximum stays below k. They tell `protect` which cell of those
    lines can lift the maximum to k once hidden (`disclosure._Suppressor.among`)."""

    lines: np.ndarray
    weights: np.ndarray
    short: float


class Auditor:
    """The intruder over one table of cells, remembering what it has learnt.

    Two memories, both sound while the hidden set only grows between calls (as in
    `protect`): the answer per component, and the small cells shown safe. A feasible point
    stays feasible when one more cell is hidden (give it its true value), so a cell once
    seen at k keeps that witness; later rounds only re-examine the exposed cells.
    """

    def __init__(self, table: Table, k: int, deadline: float | None = None):
        self.table = table
        self.deadline = deadline  # time.monotonic() past which it raises OutOfTime
        self.proven = np.zeros(len(table.keys), dtype=bool)
        self.k = k
        self.small = (table.values >= 1) & (table.values <= k - 1)
        self.open = self.small.copy()  # small cells not yet shown safe
        self.last = np.zeros(len(table.keys), dtype=bool)
        self.cache: dict[frozenset[int], frozenset[int]] = {}
        self.lp_calls = 0
        # Per cell an LP showed exposed: the lines that hold it down (non-zero duals of its
        # maximum), where `protect` looks for a cell to hide first (`Holding`).
        self.holding: dict[int, Holding] = {}

    def exposed(self, hidden: np.ndarray, enough: int | None = None,
                proven: np.ndarray | None = None) -> set[int]:
        """Indices of the small hidden cells that are derived or bounded inside [1, k-1].

        With `enough`, the search may stop once that many are found (the caller hides more
        and asks again); an empty answer is always complete."""
        if (self.table.values[hidden] < 1).any():
            raise ValueError("a zero is published, never hidden")
        if (self.last & ~hidden).any():  # a cell published again: witnesses lapse
            self.open = self.small.copy()
        self.last = hidden.copy()
        # Exposed without an LP; `proven` is `bounded` of this very `hidden`, when the
        # caller has it already.
        self.proven = bounded(self.table, hidden, self.k) if proven is None else proven
        cols = np.flatnonzero(hidden)
        sub = self.table.by_cell[:, cols].tocsr()
        lines = np.flatnonzero(np.diff(sub.indptr))
        sub = sub[lines]
        found: set[int] = set()
        for cells, rows in zip(*components(sub), strict=True):
            if len(rows) == 0:  # in no line: unbounded above
                self.open[cols[cells]] = False
            if not self.open[cols[cells]].any():
                continue
            key = frozenset(cols[cells].tolist())
            if key not in self.cache:
                left = None if enough is None else enough - len(found)
                exposed, complete = self._solve(sub[rows][:, cells], cols[cells], lines[rows],
                                                left)
                if not complete:
                    return found | exposed  # partial: not remembered
                self.cache[key] = frozenset(exposed)
            found |= self.cache[key]
            if enough is not None and len(found) >= enough:
                break
        return found

    def _solve(self, a: sparse.csr_array, cells: np.ndarray, lines: np.ndarray,
               enough: int | None) -> tuple[set[int], bool]:
        """The exposed cells of one component (its cells and lines, as the table numbers
        them): elimination and propagation, then LP on what remains.

        Returns them and whether the search was complete (see `exposed`)."""
        known = _eliminate(a)
        found = {int(c) for c in cells[(known & self.small[cells]) | self.proven[cells]]}
        rest = np.flatnonzero(~known)
        b = a[:, rest].tocsr()
        keep = np.flatnonzero(np.diff(b.indptr) >= 2)  # rows with one unknown were eliminated
        b, lines = b[keep], lines[keep]
        for part, rows in zip(*components(b), strict=True):
            if enough is not None and len(found) >= enough:
                return found, False
            ids = cells[rest[part]]
            targets = self.open[ids] & ~self.proven[ids]
            if not len(rows) or not targets.any():
                continue
            a_part, values = b[rows][:, part], self.table.values[ids]
            if not (a_part @ values).any():
                # Lines holding no published count (nor derived one): A x == 0. Any
                # multiple of the true counts fits them, so every cell is unbounded above.
                self.open[ids] = False
                continue
            for block, block_rows, inner in _blocks(a_part, targets, LARGE):
                bounds = _Bounds(a_part[block_rows][:, block], values[block],
                                 targets[block] & inner, self.k, self.deadline,
                                 least=self.table.least[ids][block])
                exposed = bounds.exposed(None if enough is None else enough - len(found))
                self.lp_calls += bounds.lp_calls
                self.open[ids[block][bounds.safe]] = False
                targets[block[bounds.safe]] = False  # no block needed around them now
                found |= {int(c) for c in ids[block][exposed]}
                for position, held in bounds.holding.items():
                    self.holding[int(ids[block][position])] = Holding(
                        lines[rows][block_rows][held.lines], held.weights, held.short)
                if bounds.stopped:
                    return found, False
        return found, True


def _blocks(a: sparse.csr_array, targets: np.ndarray, size: int):
    """(columns, rows, inner) of the blocks whose LPs stand for the component's: all of it
    when it has at most `size` unknowns; else, around each target not yet covered, the
    unknowns within a few lines of it (about `size` of them, the nearest first), with the
    lines through them, covering the targets of its inner part (all but the outermost
    ring).

    In a block's LP the other unknowns keep their true values, so each of its solutions is
    one of the whole component: a cell it shows at k or more is safe. A target its block
    does not show safe is called exposed without proof (the safe side: more is hidden). A
    whole-component LP of 100,000 unknowns (a month of a million cases) ran for minutes
    without an answer; blocks cost what the open targets need, not what the component
    holds."""
    m, n = a.shape
    if n <= size:
        yield np.arange(n), np.arange(m), np.ones(n, dtype=bool)
        return
    link = sparse.csr_array(abs(a))
    by_cell = sparse.csc_array(link)
    uncovered = np.ones(n, dtype=bool)
    while (uncovered & targets).any():  # `targets` may shrink as blocks are solved
        ball = np.zeros(n, dtype=bool)
        ball[np.argmax(uncovered & targets)] = True
        inner = ball.copy()
        while True:
            near = (link.T @ (link @ ball.astype(np.int64)) > 0) & ~ball
            if not near.any() or ball.sum() + near.sum() > size:
                if ball.sum() < size and near.any():  # the last ring, as much as fits
                    ball[np.flatnonzero(near)[:size - ball.sum()]] = True
                break
            inner = ball.copy()
            ball |= near
        uncovered &= ~inner
        block = np.flatnonzero(ball)
        yield block, np.unique(by_cell[:, block].indices), inner[block]


class _Bounds:
    """LP maxima of the open small cells of one component (after elimination).

    Bounds come from HiGHS on `A x == A v, x >= 1` (see the module's docstring), the
    component's LP kept loaded (`_Model`). Any solution is a feasible point, so it settles
    every cell it shows at k or more ("safe"). First batch LPs (maximise the sum of the open
    cells, each capped at k) while each still settles BATCH_MIN cells or more. Then, in a
    component of more than NEAR_ABOVE unknowns, the LP of the lines near each cell left,
    while it proves at least half of the exposures it tries (`_near`): on the cases of a
    month of a million cases, their release took 227 s with it, 266 s without. Then the
    cells left are asked whether they can reach k (`_Model.reaches`), nearest to k first and
    several at once while they can; one that cannot alone has its own maximum, from the
    last basis: below k, it is exposed, and its duals say why.

    Batches settle little where cells compete for the same few people: in a quarter of
    3,000 cases, 96% of its cells and its months' hidden, a batch settled some 3,500 cells
    and only a dozen new ones each time, though nearly every one of the 6,000 cells left
    could reach k alone. Asked in groups of up to GROUP_MAX, nearest first, they settled
    1,210 cells in 90 s, against 411 one at a time; a cell's own maximum took 1-3.6 s.

    On a month of a million cases (a block of 9,630 unknowns, 6,194 of them open), a
    batch took 2-4 s from scratch and 6 s from the last basis, and settled 1,193 cells at
    first, still a dozen after thirty-five batches; a cell's own maximum took 0.75 s from
    the last basis, 4 s from scratch. So batches start from scratch, and go on while they
    settle more than their time's worth of single maxima."""

    def __init__(self, a: sparse.csr_array, values: np.ndarray, open_: np.ndarray, k: int,
                 deadline: float | None = None, least: np.ndarray | None = None):
        self.values, self.k, self.n = values.astype(float), k, a.shape[1]
        self.least = np.ones(self.n) if least is None else least.astype(float)
        self.a = a
        self.deadline = deadline
        self.model = _Model(a, self.values, least=self.least, deadline=deadline)
        self.near_tries = self.near_proofs = 0
        self.safe = np.zeros(self.n, dtype=bool)
        self.point = self.values.copy()  # the last feasible point found
        self.targets = np.flatnonzero(open_)
        self.lp_calls = 0
        self.stopped = False  # stopped at `enough`, some targets left unexamined
        self.holding: dict[int, Holding] = {}  # exposed target: its rows of non-zero dual

    def exposed(self, enough: int | None = None) -> np.ndarray:
        """Positions of the targets never seen at k or more: they are exposed."""
        while len(todo := self.targets[~self.safe[self.targets]]) > 1:
            self._maximise(todo, afresh=True)
            if self.safe[todo].sum() < BATCH_MIN:
                break
        found = []

        def expose(t: int, held: Holding | None) -> bool:
            found.append(t)
            if held is not None:
                self.holding[t] = held
            if enough is not None and len(found) >= enough:
                self.stopped = True
                return True
            return False

        # The relaxation near each cell first, while it proves at least half of what it
        # tries: after the batches, most cells left on a month of a million cases are
        # exposed.
        left = [int(t) for t in self.targets if not self.safe[t]]
        if self.n > NEAR_ABOVE:
            unproven = []
            for t in left:
                if 2 * self.near_proofs + 4 < self.near_tries:
                    unproven.append(t)
                    continue
                self.near_tries += 1
                held = self._near(t)
                if held is None:
                    unproven.append(t)
                    continue
                self.near_proofs += 1
                if expose(t, held):
                    return np.array(found, dtype=np.int64)
            left = unproven
        # Then each cell left: can it reach k? Nearest to k first in the last point found,
        # since the dual simplex then moves least from its basis (`_Model.reaches`); several
        # at once while they can all reach k together, one at a time once they cannot.
        left = np.array(left, dtype=np.int64)
        group = 1
        while len(left := left[~self.safe[left]]):
            pick = left[np.argsort(-self.point[left], kind="stable")[:group]]
            self.lp_calls += 1
            x = self.model.reaches(pick, self.k)
            if x is not None:
                self.point = x
                self.safe[x >= self.k - EPS] = True
                group = min(2 * group, GROUP_MAX)
                continue
            if len(pick) > 1:
                group = max(1, group // 4)
                continue
            t = int(pick[0])
            left = left[left != t]
            highest = self._maximise(pick)  # unsolved: the safe side
            if highest is not None and highest >= self.k - EPS:
                continue  # `reaches` found no point in time; the maximum did
            held = None
            if highest is not None:
                duals = self.model.duals
                rows = np.flatnonzero(np.abs(duals) > EPS)
                held = Holding(rows, duals[rows], self.k - highest)
            if expose(t, held):
                break
        return np.array(found, dtype=np.int64)

    @cached_property
    def _rings(self) -> tuple[sparse.csr_array, sparse.csc_array]:
        """The incidence by line and by cell, for `_near` only (large components)."""
        link = sparse.csr_array(abs(self.a))
        return link, sparse.csc_array(link)

    def _near(self, t: int) -> Holding | None:
        """Why target `t` is exposed, from the lines within NEAR rings of it alone, or None.

        Dropping the other lines relaxes the LP (each point of the whole LP is one of this
        one), so a maximum below k here is below k there: a proof, and its duals tell which
        lines hold the cell down. Not a witness the other way: its points need not fit the
        dropped lines. On the benchmark's cases, after the batches, 74 of 80 cells left
        were exposed and this proved 68 of them, at 16 ms each against 70 ms to 600 ms for
        the whole component's maximum."""
        link, by_cell = self._rings
        cells, rows = np.array([t]), np.empty(0, dtype=np.int64)
        for _ in range(NEAR):
            rows = np.unique(by_cell[:, cells].indices)
            cells = np.unique(link[rows].indices)
        if len(rows) == self.a.shape[0]:
            return None  # no relaxation: the whole LP
        model = _Model(self.a[rows][:, cells], self.values[cells], least=self.least[cells],
                       solver="choose", deadline=self.deadline)
        self.lp_calls += 1
        x, highest = model.maximise(np.searchsorted(cells, [t]), self.k)
        if x is None or highest >= self.k - EPS:
            return None
        held = np.flatnonzero(np.abs(model.duals) > EPS)
        return Holding(rows[held], model.duals[held], self.k - highest)

    def _maximise(self, targets: np.ndarray, afresh: bool = False) -> float | None:
        """The maximum of the sum of `targets`, each capped at k; marks what it shows safe."""
        self.lp_calls += 1
        x, highest = self.model.maximise(targets, self.k, afresh)
        if x is None:
            return None
        self.point = x
        self.safe[x >= self.k - EPS] = True
        return highest


class _Model:
    """One component's LP loaded in HiGHS: `A x == A v`, `x >= least` (1 unless listed
    zeros make a cell possibly empty), maximising capped targets.

    Solved from scratch the first time and when asked, by interior point with crossover
    (which ends on an optimal basis) and presolve; else each call changes only the
    objective and the targets' bounds and puts them back, so HiGHS starts from the last
    optimal basis, by primal simplex (still feasible after a change of objective) and
    without presolve (which would throw that basis away): on a 3,000-cell component, a
    cell's maximum took 130 ms from scratch through scipy's `linprog` (interior point) and
    15-20 ms this way. From scratch, a batch over the 9,635 unknowns of the cases' largest
    component of a month of a million cases took 0.5-0.7 s by interior point against
    1.2-1.6 s by HiGHS's default dual simplex; the cases' release went from 330 s to 286 s."""

    def __init__(self, a: sparse.csr_array, values: np.ndarray, solver: str = "ipm",
                 deadline: float | None = None, least: np.ndarray | None = None):
        m, n = a.shape
        self.least = np.ones(n) if least is None else np.asarray(least, dtype=float)
        self.solver = solver
        self.deadline = deadline
        csc = sparse.csc_array(a)
        csc.sort_indices()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = self.least.copy()
        lp.col_upper_ = np.full(n, highspy.kHighsInf)
        lp.row_lower_ = lp.row_upper_ = a @ values
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.passModel(lp)
        self._from_scratch()  # the next run starts from scratch
        self.restarts = 0  # runs from the last basis that stalled
        self.cold_s = 0.0  # how long the last run from scratch took (the first run is one)
        self.hot_s, self.hot_runs = 0.0, 0  # what runs from the last basis cost, restarts in
        self.duals = np.empty(0)  # of the rows, at the last optimum

    def _from_scratch(self) -> None:
        self.highs.clearSolver()
        self.highs.setOptionValue("solver", self.solver)
        self.highs.setOptionValue("run_crossover", "on")  # an optimal basis to start from
        self.highs.setOptionValue("presolve", "choose")
        self.fresh = True

    def _run(self) -> None:
        """One run, within its time limit: a run from the last basis gets twice what the
        last run from scratch took (between HOT_MIN_S and HOT_START_S). The last basis
        usually saves most of the work, but after a change of bounds the primal simplex can
        stall on it: on the referrals of a week's part at 200,000 cases a year (a block of
        12,000 unknowns), 92 cells' maxima each ran into a fixed 2 s limit before being
        solved from scratch in about 0.13 s, 196 s of the 234 s its LPs took."""
        # HiGHS's time limit counts from the object's creation: give each run its own.
        h = self.highs
        left = time_left(self.deadline)
        limit = COLD_START_S if self.fresh else min(
            HOT_START_S, max(HOT_MIN_S, HOT_OVER_COLD * self.cold_s))
        started = h.getRunTime()
        h.setOptionValue("time_limit", started + min(left, limit))
        h.run()
        if self.fresh:
            self.cold_s = h.getRunTime() - started
        time_left(self.deadline)  # no answer from a run the deadline cut short

    def _solve(self, answered: tuple) -> highspy.HighsModelStatus:
        """Run; a run from the last basis that ends with no status in `answered` (it stalled,
        or ran out of time) runs again from scratch. The next run goes on from the basis
        this one ends on, by primal simplex (see the docstring) and without presolve,
        unless such runs have cost this model more, on average, than its last run from
        scratch: then from scratch (on that week's referrals, restarts cut short at twice
        the time from scratch still cost 0.38 s a maximum, against 0.13 s)."""
        h = self.highs
        if not self.fresh and self.hot_runs and self.hot_s / self.hot_runs > self.cold_s:
            self._from_scratch()
        hot, started = not self.fresh, h.getRunTime()
        self._run()
        if h.getModelStatus() not in answered and not self.fresh:
            self.restarts += 1
            self._from_scratch()
            self._run()
        if hot:
            self.hot_s += h.getRunTime() - started
            self.hot_runs += 1
        self.fresh = False
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", 4)  # primal
        h.setOptionValue("presolve", "off")
        return h.getModelStatus()

    def maximise(self, targets: np.ndarray, cap: int,
                 afresh: bool = False) -> tuple[np.ndarray | None, float]:
        """(solution, maximum) of the sum of `targets`, each capped; (None, nan) unsolved."""
        h, inf = self.highs, highspy.kHighsInf
        if afresh and not self.fresh:
            self._from_scratch()
        targets = np.asarray(targets, dtype=np.int32)
        ones = np.ones(len(targets))
        h.changeColsCost(len(targets), targets, -ones)
        h.changeColsBounds(len(targets), targets, self.least[targets], ones * cap)
        # The primal simplex can stall from an old basis: then from scratch.
        solved = self._solve((OPTIMAL,)) == OPTIMAL
        solution = h.getSolution()
        x = np.array(solution.col_value) if solved else None
        highest = -h.getInfo().objective_function_value if solved else float("nan")
        self.duals = (np.array(solution.row_dual) if solved and solution.dual_valid
                      else np.empty(0))
        h.changeColsCost(len(targets), targets, 0 * ones)
        h.changeColsBounds(len(targets), targets, self.least[targets], ones * inf)
        return x, highest

    def reaches(self, targets: np.ndarray, k: int) -> np.ndarray | None:
        """A feasible point with all `targets` at k or more, or None: there is none, or
        HiGHS found none in time (the caller then asks for a maximum).

        Only the targets' lower bounds change, and the objective is zero, so the last basis
        stays dual feasible and the dual simplex starts from it, as a branch-and-bound node
        does; from a point near k it moves little. On a quarter of 3,000 cases (a component
        of 10,645 unknowns, 6,000 of them open after the batches) this took 0.3 s a cell,
        nearest first, where a cell's maximum took 1-3.6 s from the last basis."""
        h, inf = self.highs, highspy.kHighsInf
        targets = np.asarray(targets, dtype=np.int32)
        ones = np.ones(len(targets))
        h.changeColsBounds(len(targets), targets, ones * k, ones * inf)
        if not self.fresh:
            h.setOptionValue("simplex_strategy", 1)  # dual
        status = self._solve((OPTIMAL, highspy.HighsModelStatus.kInfeasible))
        x = np.array(h.getSolution().col_value) if status == OPTIMAL else None
        h.changeColsBounds(len(targets), targets, self.least[targets], ones * inf)
        return x


def bounded(table: Table, hidden: np.ndarray, k: int, rounds: int = 60) -> np.ndarray:
    """The small hidden cells that bound propagation alone shows below k: exposed for sure
    (`Propagation`)."""
    return Propagation(table, hidden, rounds).exposed(k)


class Propagation:
    """Interval propagation over the lines, the hidden cells unknown and at least their
    floor (`Table.least`: 1, or 0 where listed zeros make them possibly empty).

    Each line bounds each of its unknowns by what the others can at least or at most hold,
    and that is repeated. Every bound it gives is one an intruder has (it is a relaxation of
    the LP: the LP's maximum is never above it), so a cell it shows below k needs no LP to
    be called exposed; a cell it leaves at k or more may still be exposed (the LP decides).
    A chain of lines is followed one line per round; `rounds` caps the work, never the
    soundness. It also tells which lines hold a cell down (`holding`), so that `protect`
    can loosen those rather than any line nearby."""

    def __init__(self, table: Table, hidden: np.ndarray, rounds: int = 60):
        self.table = table
        cols = np.flatnonzero(hidden)
        sub = table.by_cell[:, cols].tocsr()  # its rows are the table's lines
        b = sub @ table.values[cols].astype(float)
        coo = sub.tocoo()
        row, col, sign = coo.row, coo.col, coo.data
        m, n = sub.shape
        lo, hi = table.least[cols].astype(float), np.full(n, np.inf)
        for _ in range(rounds):
            upper, lower = self._terms(b, row, col, sign, lo, hi, m)
            new_hi, new_lo = hi.copy(), lo.copy()
            np.minimum.at(new_hi, col, upper)
            np.maximum.at(new_lo, col, lower)
            if (new_hi == hi).all() and (new_lo == lo).all():
                break
            lo, hi = new_lo, new_hi
        self.cols, self.hi = cols, hi
        self.position = np.full(len(hidden), -1, dtype=np.int64)
        self.position[cols] = np.arange(n)
        # Per term (a line and one of its unknowns): the upper bound that line alone gives.
        reach = self._terms(b, row, col, sign, lo, hi, m)[0]
        order = np.argsort(col, kind="stable")
        self.term_row, self.term_reach = row[order], reach[order]
        self.term_ptr = np.searchsorted(col[order], np.arange(n + 1))

    @staticmethod
    def _terms(b, row, col, sign, lo, hi, m):
        """Per term, the upper and lower bound its line gives its unknown."""
        least = np.where(sign > 0, lo[col], -hi[col])  # what each term can at least hold
        most = np.where(sign > 0, hi[col], -lo[col])
        upper = b[row] - _others(row, least, m)  # sign * x <= upper
        lower = b[row] - _others(row, most, m)  # sign * x >= lower
        return (np.floor(np.where(sign > 0, upper, -lower) + EPS),
                np.ceil(np.where(sign > 0, lower, -upper) - EPS))

    def exposed(self, k: int) -> np.ndarray:
        """A mask of the small hidden cells bounded below k."""
        out = np.zeros(len(self.table.keys), dtype=bool)
        values = self.table.values[self.cols]
        out[self.cols[(values >= 1) & (values <= k - 1) & (self.hi < k)]] = True
        return out

    def upper(self, cell: int) -> float:
        """The upper bound of a hidden cell."""
        return float(self.hi[self.position[cell]])

    def holding(self, cell: int, below: float) -> list[tuple[int, float]]:
        """(line, bound) of the lines that alone keep a hidden cell below `below`,
        tightest first."""
        i = self.position[cell]
        rows = self.term_row[self.term_ptr[i]:self.term_ptr[i + 1]]
        reach = self.term_reach[self.term_ptr[i]:self.term_ptr[i + 1]]
        order = np.argsort(reach, kind="stable")
        return [(int(rows[j]), float(reach[j])) for j in order if reach[j] < below]


def _others(row: np.ndarray, terms: np.ndarray, m: int) -> np.ndarray:
    """Per term, the sum of the other terms of its line. Infinite terms all have one sign
    (a least term is -inf, a most term +inf): one among the others makes the sum so."""
    finite = np.isfinite(terms)
    total = np.bincount(row, weights=np.where(finite, terms, 0.0), minlength=m)
    infinite = np.bincount(row, weights=~finite, minlength=m)
    rest = total[row] - np.where(finite, terms, 0.0)
    infinity = np.inf if (terms == np.inf).any() else -np.inf
    return np.where(infinite[row] - ~finite > 0, infinity, rest)


def _eliminate(a: sparse.csr_array) -> np.ndarray:
    """Iterative elimination: which columns follow from rows with a single unknown."""
    n_rows, n_cols = a.shape
    csc = a.tocsc()
    unknowns = np.diff(a.indptr).tolist()
    indptr, indices = a.indptr.tolist(), a.indices.tolist()
    col_ptr, col_rows = csc.indptr.tolist(), csc.indices.tolist()
    known = [False] * n_cols
    ready = [r for r in range(n_rows) if unknowns[r] == 1]
    while ready:
        r = ready.pop()
        if unknowns[r] != 1:
            continue
        j = next(c for c in indices[indptr[r]:indptr[r + 1]] if not known[c])
        known[j] = True
        for r2 in col_rows[col_ptr[j]:col_ptr[j + 1]]:
            unknowns[r2] -= 1
            if unknowns[r2] == 1:
                ready.append(r2)
    return np.array(known, dtype=bool)
