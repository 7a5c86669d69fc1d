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

LPs are the cost (a few ms each, mostly call overhead; 0.3 s on a component of 7,000
cells), so `_Bounds` finds bounds lazily: a small cell is safe as soon as some feasible point
has it at k or more, and every LP solution is such a point for every cell at once. Bounds are
rounded inward with a tolerance of 1e-6, above HiGHS's feasibility tolerance (1e-7) and far
below the 1 between two whole counts.
"""

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

EPS = 1e-6
# From this many unknowns, interior point (with crossover) beats the dual simplex that
# "highs" picks: a 7,500-cell component took 10 s per LP by simplex, under 1 s by IPM.
IPM_FROM = 1000
LOCAL_FROM = 300  # components with more unknowns than this are first attacked locally
BATCH_FROM = 8  # in those, this many open cells or fewer go straight to the local LPs
BATCH_GAIN = 8  # batch LPs go on while each settles at least 1/BATCH_GAIN of the open cells


class Table:
    """Every cell of the lines and counts, indexed; missing counts are 0."""

    def __init__(self, counts: Mapping[Hashable, int], lines: Iterable, extra: Iterable = ()):
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


class Auditor:
    """The intruder over one table of cells, remembering what it has learnt.

    Two memories, both sound while the hidden set only grows between calls (as in
    `protect`): the answer per component, and the small cells shown safe. A feasible point
    stays feasible when one more cell is hidden (give it its true value), so a cell once
    seen at k keeps that witness; later rounds only re-examine the exposed cells.
    """

    def __init__(self, table: Table, k: int, quick: bool = False):
        self.table = table
        self.proven = np.zeros(len(table.keys), dtype=bool)
        self.k = k
        self.quick = quick  # see _Bounds: may call safe cells exposed, never the reverse
        self.small = (table.values >= 1) & (table.values <= k - 1)
        self.open = self.small.copy()  # small cells not yet shown safe
        self.last = np.zeros(len(table.keys), dtype=bool)
        self.cache: dict[frozenset[int], frozenset[int]] = {}
        self.lp_calls = 0

    def exposed(self, hidden: np.ndarray, enough: int | None = None) -> set[int]:
        """Indices of the small hidden cells that are derived or bounded inside [1, k-1].

        With `enough`, the search may stop once that many are found (the caller hides more
        and asks again); an empty answer is always complete."""
        if (self.table.values[hidden] < 1).any():
            raise ValueError("a zero is published, never hidden")
        if (self.last & ~hidden).any():  # a cell published again: witnesses lapse
            self.open = self.small.copy()
        self.last = hidden.copy()
        self.proven = bounded(self.table, hidden, self.k)  # exposed without an LP
        cols = np.flatnonzero(hidden)
        sub = self.table.by_cell[:, cols].tocsr()
        sub = sub[np.flatnonzero(np.diff(sub.indptr))]
        found: set[int] = set()
        for cells, rows in zip(*components(sub), strict=True):
            if len(rows) == 0 or not self.open[cols[cells]].any():
                continue  # in no line (unbounded above), or nothing left to check
            key = frozenset(cols[cells].tolist())
            if key not in self.cache:
                left = None if enough is None else enough - len(found)
                exposed, complete = self._solve(sub[rows][:, cells], cols[cells], left)
                if not complete:
                    return found | exposed  # partial: not remembered
                self.cache[key] = frozenset(exposed)
            found |= self.cache[key]
            if enough is not None and len(found) >= enough:
                break
        return found

    def _solve(self, a: sparse.csr_array, cells: np.ndarray,
               enough: int | None) -> tuple[set[int], bool]:
        """The exposed cells of one component: elimination and propagation, then LP on what
        remains.

        Returns them and whether the search was complete (see `exposed`)."""
        known = _eliminate(a)
        found = {int(c) for c in cells[(known & self.small[cells]) | self.proven[cells]]}
        rest = np.flatnonzero(~known)
        b = a[:, rest].tocsr()
        b = b[np.flatnonzero(np.diff(b.indptr) >= 2)]  # rows with one unknown were eliminated
        for part, rows in zip(*components(b), strict=True):
            if enough is not None and len(found) >= enough:
                return found, False
            ids = cells[rest[part]]
            targets = self.open[ids] & ~self.proven[ids]
            if len(rows) and targets.any():
                bounds = _Bounds(b[rows][:, part], self.table.values[ids], targets,
                                 self.k, self.quick)
                exposed = bounds.exposed(None if enough is None else enough - len(found))
                self.lp_calls += bounds.lp_calls
                self.open[ids[bounds.safe]] = False
                found |= {int(c) for c in ids[exposed]}
                if bounds.stopped:
                    return found, False
        return found, True


class _Bounds:
    """LP maxima of the open small cells of one component (after elimination).

    Bounds come from HiGHS on `A x == A v, x >= 1` (see the module's docstring). Any solution
    is a feasible point, so it settles every cell it shows at k or more ("safe"). First batch
    LPs over the whole component (maximise the sum of the open cells, each capped at k),
    while each still settles an eighth of what is open; a large component with few open
    cells (the later rounds of `protect`) skips them. Then cell by cell, and in a large
    component locally first: around the cell t, within `depth` lines, fixing the hidden
    cells further out at their true values restricts the system (its solutions are
    solutions, so still witnesses), and keeping only the lines wholly inside relaxes it
    (its maximum is higher, so a maximum below k there proves t exposed). Only when neither
    settles t does the neighbourhood grow, up to the whole component, where the two
    coincide.
    """

    def __init__(self, a: sparse.csr_array, values: np.ndarray, open_: np.ndarray, k: int,
                 quick: bool = False):
        self.a, self.values, self.k, self.n = a, values.astype(float), k, a.shape[1]
        self.quick = quick
        self.link = abs(a).astype(np.int64)
        self.safe = np.zeros(self.n, dtype=bool)
        self.targets = np.flatnonzero(open_)
        self.lp_calls = 0
        self.stopped = False  # stopped at `enough`, some targets left unexamined

    def exposed(self, enough: int | None = None) -> np.ndarray:
        """Positions of the targets never seen at k or more: they are exposed."""
        big = self.n > LOCAL_FROM
        if len(self.targets) > BATCH_FROM or not big:
            while len(todo := self.targets[~self.safe[self.targets]]):
                everything = np.ones(self.n, dtype=bool)
                self._lp(everything, np.ones(self.a.shape[0], dtype=bool), todo, True)
                if self.safe[todo].sum() * BATCH_GAIN < len(todo):
                    break
        # Quick: in a large component, a target with no witness within 4 lines is called
        # exposed without proof. Hiding one more cell for it costs some information, while
        # the proof costs LPs over the whole component (seconds each at 10,000 cells).
        depths = ((2, 4) if self.quick else (2, 4, 8, None)) if big else (None,)
        found = []
        for t in self.targets:
            if enough is not None and len(found) >= enough:
                self.stopped = True
                break
            if not self.safe[t] and self._exposed(t, depths):
                found.append(t)
        return np.array(found, dtype=np.int64)

    def _exposed(self, t: int, depths: tuple[int | None, ...]) -> bool:
        for depth in depths:
            cells = np.zeros(self.n, dtype=bool)
            cells[t] = True
            for _ in range(depth or 0):
                cells = self.link.T @ (self.link @ cells) > 0
            if depth is None:
                cells[:] = True
            touching = self.link @ cells > 0
            self._lp(cells, touching, np.array([t]), True)  # outside cells at true values
            if self.safe[t]:
                return False
            if cells.all():
                return True  # the whole component: k is out of reach
            inside = touching & (self.link @ ~cells == 0)
            if self.quick or not inside.any():
                continue
            highest = self._lp(cells, inside, np.array([t]), False)
            if highest is not None and highest < self.k - EPS:
                return True
        return True

    def _lp(self, cells: np.ndarray, rows: np.ndarray, targets: np.ndarray,
            witness: bool) -> float | None:
        """Maximise the sum of `targets` over `cells`, each target capped at k."""
        where = np.flatnonzero(cells)
        position = np.cumsum(cells) - 1
        a = self.a[np.flatnonzero(rows)][:, where]
        objective = np.zeros(len(where))
        objective[position[targets]] = -1.0
        upper = np.full(len(where), np.inf)
        upper[position[targets]] = self.k
        self.lp_calls += 1
        method = "highs-ipm" if len(where) > IPM_FROM else "highs"
        res = linprog(objective, A_eq=a, b_eq=a @ self.values[where], method=method,
                      bounds=np.column_stack((np.ones(len(where)), upper)))
        if res.status != 0:
            return None  # no witness, no proof: the cell stays open, the safe side
        if witness:
            self.safe[where[res.x >= self.k - EPS]] = True
        return -float(res.fun)


def bounded(table: Table, hidden: np.ndarray, k: int, rounds: int = 60) -> np.ndarray:
    """The small hidden cells that bound propagation alone shows below k: exposed for sure.

    Interval propagation over the lines, the hidden cells unknown and at least 1: each line
    bounds each of its unknowns by what the others can at least or at most hold, and that
    is repeated. Every bound it gives is one an intruder has (it is a relaxation of the LP:
    the LP's maximum is never above it), so a cell it shows below k needs no LP to be
    called exposed; a cell it leaves at k or more may still be exposed (the LP decides). A
    chain of lines is followed one line per round; `rounds` caps the work, never the
    soundness."""
    cols = np.flatnonzero(hidden)
    sub = table.by_cell[:, cols].tocsr()
    b = sub @ table.values[cols].astype(float)
    coo = sub.tocoo()
    row, col, sign = coo.row, coo.col, coo.data
    m, n = sub.shape
    lo, hi = np.ones(n), np.full(n, np.inf)
    for _ in range(rounds):
        least = np.where(sign > 0, lo[col], -hi[col])  # what each term can at least hold
        most = np.where(sign > 0, hi[col], -lo[col])
        upper = b[row] - _others(row, least, m)  # sign * x <= upper
        lower = b[row] - _others(row, most, m)  # sign * x >= lower
        new_hi, new_lo = hi.copy(), lo.copy()
        np.minimum.at(new_hi, col, np.floor(np.where(sign > 0, upper, -lower) + EPS))
        np.maximum.at(new_lo, col, np.ceil(np.where(sign > 0, lower, -upper) - EPS))
        if (new_hi == hi).all() and (new_lo == lo).all():
            break
        lo, hi = new_lo, new_hi
    out = np.zeros(len(hidden), dtype=bool)
    values = table.values[cols]
    out[cols[(values >= 1) & (values <= k - 1) & (hi < k)]] = True
    return out


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
