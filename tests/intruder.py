"""An intruder holding every published statistics answer, written apart from the code.

The unknowns are the suppressed cells, and any `latent` count the intruder reasons with
(how many referrals moved from one status to another between two period ends); the
relations are what anyone can know (a table's cells add up to its margins, months to their
quarter, the lifecycle). A suppressed cell is at least 1 (a combination that is not listed
is 0, and a listed one holds someone: zeros are published, DESIGN.md), except where the
rule lists zeros too (`may_be_zero`); a latent count is at least 0. Iterative elimination
first, then LP minimum and maximum of every small hidden cell, one connected component at a
time, bounds rounded inward. Used by tests/test_stats_intruder.py.
"""

import math
from collections import defaultdict

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

K = 5
EPS = 1e-6  # rounding inward: ceil(min - EPS), floor(max + EPS)


class Intruder:
    """Everything published, attacked at once: the unknowns are the suppressed cells."""

    def __init__(self, cells, lines, truth, *, latent=(), may_be_zero=lambda key: False):
        hidden = [key for key, count in cells.items() if count is None]
        self.keys = sorted(hidden, key=repr) + sorted(set(latent), key=repr)
        self.truth = np.array([truth.get(key, 0) for key in self.keys], dtype=float)
        self.cells = len(hidden)  # the published cells come first; latent counts after
        self.floor = np.array([0.0 if j >= self.cells or may_be_zero(key) else 1.0
                               for j, key in enumerate(self.keys)])
        index = {key: i for i, key in enumerate(self.keys)}
        self.rows, self.rhs = [], []
        for total, parts in lines:
            terms, known = defaultdict(float), 0
            for key, sign in ((total, 1.0), *((part, -1.0) for part in parts)):
                count = None if key in index else cells.get(key, 0)  # not listed: 0
                if count is None:
                    terms[index[key]] += sign
                else:
                    known += sign * count
            if terms:
                self.rows.append(dict(terms))
                self.rhs.append(-known)
            else:
                assert known == 0, f"published cells do not add up: {total}"

    def exposed(self):
        """[(cell, true count, min, max)] for every small hidden cell the intruder derives
        or bounds inside [1, K-1], bounds rounded inward."""
        small = (self.truth >= 1) & (self.truth <= K - 1)
        small[self.cells:] = False  # a latent count is not published: only a means
        derived, rhs, left = self._eliminate()
        for j, value in derived.items():
            assert abs(value - self.truth[j]) < EPS, "the relations contradict the truth"
        found = [(j, round(value), round(value)) for j, value in derived.items() if small[j]]
        free = np.array(sorted(set(range(len(self.keys))) - set(derived)), dtype=np.int64)
        rows = [r for r, unknowns in enumerate(left) if unknowns >= 2]
        position = {j: n for n, j in enumerate(free)}
        entries = [(n, position[j], c) for n, r in enumerate(rows)
                   for j, c in self.rows[r].items() if j in position]
        line, column, sign = (np.array(x) for x in zip(*entries, strict=True)) if entries \
            else ([], [], [])
        a = sparse.csr_array((sign, (line, column)), shape=(len(rows), len(free)))
        b = np.array([rhs[r] for r in rows])
        for cols, lines in components(a):
            if len(lines) and small[free[cols]].any():
                part = Component(a[lines][:, cols], b[lines], small[free[cols]],
                                 self.floor[free[cols]])
                found += [(free[cols][j], lo, hi) for j, lo, hi in part.exposed()]
        return [(self.keys[j], int(self.truth[j]), lo, hi) for j, lo, hi in found]

    def _eliminate(self):
        """Solve every relation with one unknown, substitute, repeat."""
        by_cell = defaultdict(list)
        for r, terms in enumerate(self.rows):
            for j in terms:
                by_cell[j].append(r)
        rhs, left = list(self.rhs), [len(terms) for terms in self.rows]
        derived = {}
        ready = [r for r, unknowns in enumerate(left) if unknowns == 1]
        while ready:
            r = ready.pop()
            if left[r] != 1:
                continue
            j = next(j for j in self.rows[r] if j not in derived)
            derived[j] = value = rhs[r] / self.rows[r][j]
            for other in by_cell[j]:
                rhs[other] -= self.rows[other][j] * value
                left[other] -= 1
                if left[other] == 1:
                    ready.append(other)
        for r, unknowns in enumerate(left):
            assert unknowns or abs(rhs[r]) < EPS, "the relations contradict each other"
        return derived, rhs, left


def components(a):
    """The connected components of the cells (columns) linked by relations (rows)."""
    n_rows, n_cols = a.shape
    link = abs(a)
    graph = sparse.block_array([[None, link.T], [link, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    groups = defaultdict(lambda: ([], []))
    for i, label in enumerate(labels):
        groups[label][0 if i < n_cols else 1].append(i if i < n_cols else i - n_cols)
    return [(np.array(cols, dtype=np.int64), np.array(lines, dtype=np.int64))
            for cols, lines in groups.values() if cols]


class Component:
    """LP bounds of the small cells of one component: A x == b, x >= floor (1 or 0).

    Any feasible point showing a small cell at K or more settles it (its maximum reaches
    K), so every solution serves as a witness for all cells: first LPs over many cells at
    once, then each open cell's own maximum (capped at K: only whether K is reached
    matters), and its minimum where that is below K. A cell is exposed when its minimum
    is 1 or more and its maximum below K."""

    def __init__(self, a, b, small, floor):
        self.a, self.b, self.n = a, b, a.shape[1]
        self.safe, self.floor = ~small, floor

    def _solve(self, objective, capped):
        upper = np.full(self.n, np.inf)
        upper[capped] = K
        result = linprog(objective, A_eq=self.a, b_eq=self.b, method="highs",
                         bounds=np.column_stack((self.floor, upper)))
        assert result.status == 0, result.message
        self.safe |= result.x >= K - EPS
        return result.fun

    def exposed(self):
        while (todo := ~self.safe).any():  # many cells at once while that settles enough
            self._solve(np.where(todo, -1.0, 0.0), todo)
            if (todo & self.safe).sum() * 8 < todo.sum():
                break
        found = []
        for j in np.flatnonzero(~self.safe):
            if self.safe[j]:
                continue
            target = np.zeros(self.n)
            target[j] = 1.0
            highest = math.floor(-self._solve(-target, [j]) + EPS)
            if highest >= K:
                continue  # not exposed, whatever its minimum
            lowest = math.ceil(self._solve(target, []) - EPS)
            if lowest >= 1:
                found.append((j, lowest, highest))
        return found
