"""Disclosure control: suppression patterns survive an intruder written independently here."""

import itertools
import math
import os
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from referral.services import disclosure, disclosure_audit
from referral.services.disclosure import Line, audit, information_loss, protect
from referral.services.disclosure_audit import Auditor, Table

K = 5
ALL = "*"


def cube(array, name="t"):
    """Counts and lines of an n-D table with all its marginals; keys (name, i, j, ...)."""
    array = np.asarray(array)
    counts, lines = {}, []
    for key in itertools.product(*[[*range(n), ALL] for n in array.shape]):
        index = tuple(slice(None) if i == ALL else i for i in key)
        counts[(name, *key)] = int(array[index].sum())
        for d, i in enumerate(key):
            if i == ALL:
                parts = tuple((name, *key[:d], j, *key[d + 1:]) for j in range(array.shape[d]))
                lines.append(Line((name, *key), parts))
    return counts, lines


def small(counts, k=K):
    return {key for key, count in counts.items() if 1 <= count <= k - 1}


def equations(counts, lines, hidden):
    """The intruder's system: the hidden cells as unknowns, `A x == b`, one row per line."""
    unknowns = sorted(hidden, key=repr)
    position = {key: i for i, key in enumerate(unknowns)}
    rows, rhs = [], []
    for line in lines:
        row, known = np.zeros(len(unknowns)), 0.0
        for key, sign in [(line.total, 1.0)] + [(part, -1.0) for part in line.parts]:
            if key in position:
                row[position[key]] += sign
            else:
                known -= sign * counts.get(key, 0)
        if row.any():
            rows.append(row)
            rhs.append(known)
    return unknowns, np.array(rows).reshape(-1, len(unknowns)), np.array(rhs)


def intruder(counts, lines, hidden, k=K, least=None):
    """Independent LP attack on the whole system at once: the small hidden cells exposed.

    Every hidden cell is at least 1 (zeros are published, so an intruder knows that), or
    `least(key)` where listed zeros make it possibly empty. A small cell is exposed when it
    cannot reach k: with a floor of 1 that is being bounded inside [1, k-1]."""
    unknowns, a, b = equations(counts, lines, hidden)
    equalities = {"A_eq": a, "b_eq": b} if len(b) else {}
    bounds = [(1 if least is None else least(key), None) for key in unknowns]
    exposed = set()
    for i, key in enumerate(unknowns):
        if not 1 <= counts.get(key, 0) <= k - 1:
            continue
        objective = np.eye(len(unknowns))[i]
        highest = linprog(-objective, bounds=bounds, method="highs", **equalities)
        assert highest.status in (0, 3)  # 3: unbounded
        if highest.status == 0 and math.floor(-highest.fun + 1e-6) <= k - 1:
            exposed.add(key)
    return exposed


def whole_number_intruder(counts, lines, hidden, k=K, least=None):
    """Integer programming attack (hidden cells >= 1, or `least`): can each small one
    reach k?"""
    unknowns, a, b = equations(counts, lines, hidden)
    lower = np.array([1 if least is None else least(key) for key in unknowns])
    exposed = set()
    for i, key in enumerate(unknowns):
        if not 1 <= counts.get(key, 0) <= k - 1:
            continue
        upper = np.full(len(unknowns), np.inf)
        upper[i] = k  # only whether k is reachable matters; keeps the program bounded
        result = milp(-np.eye(len(unknowns))[i], integrality=np.ones(len(unknowns)),
                      bounds=Bounds(lower, upper), constraints=LinearConstraint(a, b, b))
        assert result.status == 0
        if round(result.x[i]) <= k - 1:
            exposed.add(key)
    return exposed


def hidden_cube(rng, share):
    """A random 3x3x4 table with its margins, its small cells and a `share` of the other
    non-zero cells hidden (zeros are never hidden)."""
    counts, lines = cube([[[rng.choice([0, 1, 2, 3, 6, 11]) for _ in range(4)]
                           for _ in range(3)] for _ in range(3)])
    hidden = small(counts) | {key for key in counts if rng.random() < share and counts[key]}
    return counts, lines, hidden


def lines_with_one_hidden(lines, hidden):
    return [x for x in lines if len({x.total, *x.parts} & hidden) == 1]


def assert_safe(counts, lines, pattern, frozen_hidden=(), k=K, least=None):
    hidden = pattern.hidden | set(frozen_hidden)
    assert pattern.primary <= pattern.hidden
    assert not {key for key in counts if key not in hidden} & small(counts, k)
    assert intruder(counts, lines, hidden, k, least=least) == set()


def test_primary_suppression_hides_counts_from_1_to_k_minus_1_only():
    counts = {"zero": 0, "one": 1, "four": 4, "five": 5, "many": 120}
    pattern = protect(counts, [], k=K)
    assert pattern.primary == {"one", "four"}
    assert pattern.hidden == {"one", "four"}


def test_a_small_cell_derivable_from_its_row_gets_a_complement():
    counts, lines = cube([[2, 10, 7], [8, 9, 12]])
    assert audit(counts, lines, {("t", 0, 0)}, k=K) == {("t", 0, 0)}
    pattern = protect(counts, lines, k=K)
    assert pattern.primary == {("t", 0, 0)}
    assert len(pattern.hidden & {("t", 0, j) for j in range(3)}) >= 2
    assert len(pattern.hidden & {("t", i, 0) for i in range(2)}) >= 2
    assert audit(counts, lines, pattern.hidden, k=K) == set()
    assert_safe(counts, lines, pattern)


@pytest.mark.parametrize("seed", range(200))
def test_random_3x4_tables_survive_the_intruder(seed):
    rng = np.random.default_rng(seed)
    counts, lines = cube(rng.choice([0, 0, 1, 1, 2, 3, 4, 6, 9, 15], size=(3, 4)))
    pattern = protect(counts, lines, k=K)
    assert_safe(counts, lines, pattern)
    assert lines_with_one_hidden(lines, pattern.hidden) == []


@pytest.mark.parametrize("seed", range(25))
def test_random_4x4_tables_survive_a_whole_number_intruder(seed):
    rng = np.random.default_rng(1000 + seed)
    counts, lines = cube(rng.choice([0, 0, 1, 2, 3, 4, 7, 12], size=(4, 4)))
    pattern = protect(counts, lines, k=K)
    assert whole_number_intruder(counts, lines, pattern.hidden) == set()


@pytest.mark.parametrize("seed", range(20))
def test_random_3d_tables_with_all_marginals_survive_the_intruder(seed):
    rng = np.random.default_rng(2000 + seed)
    counts, lines = cube(rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8, 20], size=(3, 3, 4)))
    assert_safe(counts, lines, protect(counts, lines, k=K))


@pytest.mark.parametrize("seed", range(24))
def test_the_audit_finds_exactly_what_the_independent_intruder_finds(seed):
    counts, lines, hidden = hidden_cube(random.Random(3000 + seed), 0.25)
    assert audit(counts, lines, hidden, k=K) == intruder(counts, lines, hidden)


@pytest.mark.parametrize("seed", [25, 37, 42, 54])  # seeds whose audits need a cell's own LP
def test_an_lp_that_stalls_from_the_last_basis_is_solved_again_from_scratch(seed, monkeypatch):
    # Every run from the last basis "times out" here: the answers come from the restarts.
    monkeypatch.setattr(disclosure_audit, "HOT_START_S", 0.0)
    models = []
    real = disclosure_audit._Model

    class Watched(real):
        def __init__(self, a, values, **options):
            super().__init__(a, values, **options)
            models.append(self)

    monkeypatch.setattr(disclosure_audit, "_Model", Watched)
    counts, lines, hidden = hidden_cube(random.Random(3000 + seed), 0.25)
    assert audit(counts, lines, hidden, k=K) == intruder(counts, lines, hidden)
    assert sum(model.restarts for model in models)


def test_a_cell_reaches_k_exactly_when_its_maximum_does():
    # `reaches` stands for a cell's own maximum wherever it answers yes: its point must
    # then be a real one, with the cell at k; and it must never say no to a cell that can.
    answers = {True: 0, False: 0}
    for seed in range(8):
        counts, lines, hidden = hidden_cube(random.Random(3000 + seed), 0.25)
        unknowns, a, b = equations(counts, lines, hidden)
        values = np.array([counts[key] for key in unknowns], dtype=float)
        model = disclosure_audit._Model(a, values)
        for i, key in enumerate(unknowns):
            if not 1 <= counts[key] <= K - 1:
                continue
            highest = linprog(-np.eye(len(unknowns))[i], bounds=(1, None), method="highs",
                              A_eq=a, b_eq=b)
            can = highest.status == 3 or -highest.fun >= K - 1e-6
            point = model.reaches(np.array([i]), K)
            assert (point is not None) == can, (seed, key)
            answers[can] += 1
            if point is not None:
                assert point[i] >= K - 1e-6
                assert point.min() >= 1 - 1e-6
                np.testing.assert_allclose(a @ point, b, atol=1e-6)
    assert answers[True] and answers[False]  # both answers were put to the test


@pytest.mark.parametrize("seed", [25, 37, 42, 54])
def test_a_cell_no_point_was_found_for_in_time_is_decided_by_its_maximum(seed, monkeypatch):
    # As if every `reaches` ran out of time: no cell may be called exposed for that alone.
    monkeypatch.setattr(disclosure_audit._Model, "reaches", lambda self, targets, k: None)
    counts, lines, hidden = hidden_cube(random.Random(3000 + seed), 0.25)
    assert audit(counts, lines, hidden, k=K) == intruder(counts, lines, hidden)


def test_cells_that_reach_k_one_at_a_time_but_not_together_are_all_safe():
    # 8 people in four hidden cells of 2: each can hold 5 (the others 1), never two at once.
    counts = {"all": 8, "a": 2, "b": 2, "c": 2, "d": 2}
    lines = [Line("all", ("a", "b", "c", "d"))]
    hidden = {"a", "b", "c", "d"}
    assert intruder(counts, lines, hidden) == set()
    assert audit(counts, lines, hidden, k=K) == set()
    counts["all"], counts["d"] = 7, 1  # now none can: each is at most 4
    assert audit(counts, lines, hidden, k=K) == {"a", "b", "c", "d"} == intruder(
        counts, lines, hidden)


def nationality_months():
    """Three months of cases by nationality (HN, NI) and their quarter, one 'NI' rare month."""
    counts, lines, frozen = {}, [], {}
    for month, (hn, ni) in enumerate([(30, 2), (25, 6), (40, 7)], start=1):
        month_counts, month_lines = {("HN", month): hn, ("NI", month): ni,
                                     ("all", month): hn + ni}, [
            Line(("all", month), (("HN", month), ("NI", month)))]
        hidden = protect(month_counts, month_lines, k=K).hidden
        counts |= month_counts
        lines += month_lines
        frozen |= {key: key in hidden for key in month_counts}
    for group in ("HN", "NI", "all"):
        counts[(group, "Q")] = sum(counts[(group, m)] for m in (1, 2, 3))
        lines.append(Line((group, "Q"), tuple((group, m) for m in (1, 2, 3))))
    lines.append(Line(("all", "Q"), (("HN", "Q"), ("NI", "Q"))))
    return counts, lines, frozen


def test_a_quarter_that_would_reveal_a_hidden_month_is_hidden():
    counts, lines, frozen = nationality_months()
    frozen_hidden = {key for key, was_hidden in frozen.items() if was_hidden}
    assert ("NI", 1) in frozen_hidden and ("NI", 2) not in frozen_hidden
    # The quarter's cells are all >= k, yet publishing them reveals NI in month 1.
    assert audit(counts, lines, frozen_hidden, k=K) == {("NI", 1)}
    pattern = protect(counts, lines, k=K, frozen=frozen)
    assert pattern.primary == set()
    assert ("NI", "Q") in pattern.hidden
    assert pattern.hidden <= {("HN", "Q"), ("NI", "Q"), ("all", "Q")}
    assert audit(counts, lines, pattern.hidden | frozen_hidden, k=K) == set()
    assert_safe(counts, lines, pattern, frozen_hidden)


def test_the_loop_hides_the_whole_release_when_every_cell_would_expose():
    counts, lines, frozen = {}, [], {}
    for month, (hn, ni) in enumerate([(2, 2), (10, 10), (12, 10)], start=1):
        counts |= {("HN", month): hn, ("NI", month): ni, ("all", month): hn + ni}
        lines.append(Line(("all", month), (("HN", month), ("NI", month))))
        frozen |= {("HN", month): month == 1, ("NI", month): month == 1,
                   ("all", month): month == 1}
    for group in ("HN", "NI", "all"):
        counts[(group, "Q")] = sum(counts[(group, m)] for m in (1, 2, 3))
        lines.append(Line((group, "Q"), tuple((group, m) for m in (1, 2, 3))))
    lines.append(Line(("all", "Q"), (("HN", "Q"), ("NI", "Q"))))
    pattern = protect(counts, lines, k=K, frozen=frozen)
    assert pattern.hidden == {("HN", "Q"), ("NI", "Q"), ("all", "Q")}
    assert pattern.unresolved == set()
    assert_safe(counts, lines, pattern, {key for key, h in frozen.items() if h})


def test_a_quarter_nested_in_its_months_hides_what_a_hidden_month_holds():
    counts, lines, frozen = nationality_months()
    sums = [line for line in lines if line.total[1] == "Q" and line.parts[0][1] == 1]
    hide = disclosure.nested(counts, sums, frozen, k=K)
    # NI (and HN, its complement) were hidden in month 1; "all" never was.
    assert hide == {("HN", "Q"), ("NI", "Q")}
    frozen_hidden = {key for key, was_hidden in frozen.items() if was_hidden}
    assert audit(counts, lines, hide | frozen_hidden, k=K) == set()


def periods_of(rng, months, people, sizes, extra=None):
    """Months of random people, and their quarter, as releases have them: every table of
    up to 3 attributes per period (keys (period, table, values)), their lines, and the
    quarter's cells summing the months'. With `extra` values, the quarter's people also
    have one more attribute its months do not (a referral's status at its end): its
    tables are not sums of the months'."""
    counts, lines, sums, quarter_rows = {}, [], [], []
    for month in range(1, months + 1):
        rows = [tuple(int(rng.integers(0, size)) for size in sizes)
                for _ in range(int(rng.integers(*people)))]
        quarter_rows += [(*row, int(rng.integers(0, extra))) if extra else row
                         for row in rows]
        month_counts, month_lines = tables_of(rows)
        counts |= {(month, *key): n for key, n in month_counts.items()}
        lines += [Line((month, *x.total), tuple((month, *p) for p in x.parts))
                  for x in month_lines]
    quarter_counts, quarter_lines = tables_of(quarter_rows)
    counts |= {("Q", *key): n for key, n in quarter_counts.items()}
    lines += [Line(("Q", *x.total), tuple(("Q", *p) for p in x.parts)) for x in quarter_lines]
    for table, values in quarter_counts:
        if extra and len(sizes) in table:
            continue
        sums.append(Line(("Q", table, values), tuple(
            (month, table, values) for month in range(1, months + 1)
            if (month, table, values) in counts)))
    return counts, lines + sums, sums


def months_released(counts, lines):
    """Each month protected alone, as it was released: {cell: hidden} over the months."""
    frozen = {}
    for month in {key[0] for key in counts} - {"Q"}:
        mine = {key: n for key, n in counts.items() if key[0] == month}
        hidden = protect(mine, [x for x in lines if x.total[0] == month], k=K).hidden
        frozen |= {key: key in hidden for key in mine}
    return frozen


@pytest.mark.parametrize("seed", range(8))
def test_a_quarter_of_sums_nested_in_its_months_survives_the_intruder_unaudited(seed):
    rng = np.random.default_rng(7100 + seed)
    counts, lines, sums = periods_of(rng, 3, (6, 30), (3, 2, 3))
    frozen = months_released(counts, lines)
    hide = disclosure.nested(counts, sums, frozen, k=K)
    assert small(counts) - set(frozen) <= hide
    assert all(line.total in hide for line in sums
               if any(frozen[part] for part in line.parts))
    frozen_hidden = {key for key, was_hidden in frozen.items() if was_hidden}
    assert intruder(counts, lines, hide | frozen_hidden) == set()


@pytest.mark.parametrize("seed", range(8))
def test_a_quarter_with_cells_that_are_not_sums_is_audited_on_top_of_its_nesting(seed):
    # The quarter's status cells narrow its sums, and through them the months: the
    # nested cells alone are not enough, the audit decides (`hide`).
    rng = np.random.default_rng(7200 + seed)
    counts, lines, sums = periods_of(rng, 3, (6, 30), (3, 2), extra=3)
    frozen = months_released(counts, lines)
    hide = disclosure.nested(counts, sums, frozen, k=K)
    pattern = protect(counts, lines, k=K, frozen=frozen, hide=hide)
    assert hide <= pattern.hidden
    assert_safe(counts, lines, pattern, {key for key, h in frozen.items() if h})


def microdata(rng, people, sizes):
    """Every table of up to 3 of the attributes of `people` random people, with its lines
    to the tables one dimension larger, as a release has them; keys (dims, values)."""
    rows = [tuple(int(rng.integers(0, size)) for size in sizes) for _ in range(people)]
    return tables_of(rows)


def tables_of(rows):
    """Every table of up to 3 attributes of `rows` and their lines (see microdata)."""
    sizes = rows[0]
    counts, lines = {}, []
    for r in range(4):
        for table in itertools.combinations(range(len(sizes)), r):
            for row in rows:
                key = (table, tuple(row[d] for d in table))
                counts[key] = counts.get(key, 0) + 1
    for table, values in list(counts):
        for d in range(len(sizes)):
            if d in table or len(table) == 3:
                continue
            larger = tuple(sorted((*table, d)))
            parts = tuple(key for key in counts if key[0] == larger and all(
                key[1][larger.index(t)] == v for t, v in zip(table, values, strict=True)))
            lines.append(Line((table, values), parts))
    return counts, lines


@pytest.mark.parametrize("seed", range(10))
def test_tables_repeating_each_other_are_protected_with_copies_hidden_together(seed):
    # Attribute 0 (a country) follows from attribute 1 (a facility), so every table with
    # both repeats the table without the country: single-part lines. Hiding a small cell
    # and its copy is no protection: protect() merges copies before the line rule.
    rng = np.random.default_rng(6000 + seed)
    rows = []
    for _ in range(int(rng.integers(10, 40))):
        facility = int(rng.integers(0, 5))
        rows.append((facility % 2, facility, int(rng.integers(0, 3)), int(rng.integers(0, 2))))
    counts, lines = tables_of(rows)
    assert any(len(line.parts) == 1 for line in lines)
    pattern = protect(counts, lines, k=K)
    assert_safe(counts, lines, pattern)
    for line in lines:
        if len(line.parts) == 1:
            assert (line.total in pattern.hidden) == (line.parts[0] in pattern.hidden)


@pytest.mark.parametrize("seed", range(36, 48))
def test_a_sparse_release_with_nothing_frozen_is_never_reported_stuck(seed):
    # Overlapping tables of few people: one audit round exposes many cells around the few
    # published ones, and the first exposed cells take every candidate. Those after them
    # are not stuck (hiding everything is always possible with nothing frozen): seed 40
    # once reported 2 such cells as exposed by earlier releases.
    rng = np.random.default_rng(seed)
    counts, lines = microdata(rng, int(rng.integers(8, 40)), (3, 2, 4, 3))
    pattern = protect(counts, lines, k=K)
    assert pattern.unresolved == set()
    assert_safe(counts, lines, pattern)


def test_an_exposure_the_frozen_releases_already_make_is_reported_not_chased():
    counts = {"m1": 2, "m2": 10, "m3": 12, "q": 24, "other": 3}
    lines = [Line("q", ("m1", "m2", "m3"))]
    frozen = {"m1": True, "m2": False, "m3": False, "q": False}
    pattern = protect(counts, lines, k=K, frozen=frozen)
    assert pattern.unresolved == {"m1"}
    assert pattern.hidden == {"other"}


@pytest.mark.parametrize("enough", [1, 2, 16])
def test_exposures_met_few_at_a_time_are_all_fixed_even_behind_a_stuck_one(
        enough, monkeypatch):
    # The audit hands over the first `enough` exposed cells per round. A cell the frozen
    # releases expose by themselves comes first here; the fixable one behind it must still
    # be found and fixed, not hidden behind "nothing more to do".
    monkeypatch.setattr(disclosure, "ENOUGH", enough)
    # A 3x3 table where the line rule is not enough: the audit must add cells.
    counts, lines = cube(np.random.default_rng(8).choice([0, 1, 2, 3, 5, 6, 9], size=(3, 3)))
    counts |= {"m1": 2, "m2": 10, "m3": 12, "q": 24}
    lines = [Line("q", ("m1", "m2", "m3")), *lines]
    frozen = {"m1": True, "m2": False, "m3": False, "q": False}
    pattern = protect(counts, lines, k=K, frozen=frozen)
    assert pattern.unresolved == {"m1"}
    assert pattern.audit_added > 0
    assert audit(counts, lines, pattern.hidden | {"m1"}, k=K) == {"m1"}


def test_iterative_elimination_alone_follows_a_chain():
    # 10 = x + 4 gives x = 6; then 8 = x + z gives z = 2.
    counts = {"t1": 10, "x": 6, "y": 4, "t2": 8, "z": 2}
    lines = [Line("t1", ("x", "y")), Line("t2", ("x", "z"))]
    table = Table(counts, lines)
    auditor = Auditor(table, K)
    assert auditor.exposed(table.mask({"x", "z"})) == {table.index["z"]}
    assert auditor.lp_calls == 0


def test_an_auditor_asked_about_fewer_hidden_cells_forgets_what_it_saw():
    counts = {"a": 2, "b": 8, "ab": 10}
    table = Table(counts, [Line("ab", ("a", "b"))])
    auditor = Auditor(table, K)
    assert auditor.exposed(table.mask({"a", "b"})) == set()  # a may be 9: a witness
    assert auditor.exposed(table.mask({"a"})) == {table.index["a"]}


def test_hidden_cells_are_at_least_1_to_the_intruder_so_small_partners_expose():
    # a + b = 5 with both hidden: were 0 possible, a in [0, 5] would look safe; but a hidden
    # cell always holds someone (zeros are published), so a and b both lie in [1, 4].
    counts = {"a": 2, "b": 3, "ab": 5}
    lines = [Line("ab", ("a", "b"))]
    assert audit(counts, lines, {"a", "b"}, k=K) == {"a", "b"}
    assert intruder(counts, lines, {"a", "b"}) == {"a", "b"}
    pattern = protect(counts, lines, k=K)
    assert pattern.hidden == {"a", "b", "ab"}
    assert_safe(counts, lines, pattern)


def not_the_grand_total(key):
    """`least` of a release that lists zeros beside its hidden cells: any listed cell may
    be empty, but for the grand total of a period with anyone in it."""
    return 1 if all(i == ALL for i in key[1:]) else 0


def test_where_listed_zeros_make_hidden_cells_possibly_empty_they_leave_room():
    # a + b = 5 with both hidden: when the release also lists zeros, neither is known to
    # hold anyone, so each can be anything from 0 to 5, and 5 reaches k.
    counts = {"a": 2, "b": 3, "ab": 5}
    lines = [Line("ab", ("a", "b"))]
    maybe_empty = {"a": 0, "b": 0, "ab": 1}.__getitem__
    assert audit(counts, lines, {"a", "b"}, k=K, least=maybe_empty) == set()
    assert intruder(counts, lines, {"a", "b"}, least=maybe_empty) == set()
    pattern = protect(counts, lines, k=K, least=maybe_empty)
    assert pattern.hidden == {"a", "b"}  # the total is published
    assert_safe(counts, lines, pattern, least=maybe_empty)


def test_a_small_cell_that_cannot_reach_k_is_exposed_even_if_it_may_be_empty():
    # a + b = 3: both in [0, 3]. Not known to hold anyone, but known to hold fewer than k:
    # exposed all the same (the criterion is reaching k, not being possibly empty).
    counts = {"a": 2, "b": 1, "ab": 3}
    lines = [Line("ab", ("a", "b"))]
    hidden = {"a", "b"}
    assert audit(counts, lines, hidden, k=K, least=lambda key: 0) == {"a", "b"}
    assert intruder(counts, lines, hidden, least=lambda key: 0) == {"a", "b"}


@pytest.mark.parametrize("seed", range(60))
def test_random_tables_with_possibly_empty_cells_survive_the_intruder(seed):
    rng = np.random.default_rng(4000 + seed)
    counts, lines = cube(rng.choice([0, 0, 1, 1, 2, 3, 4, 6, 9, 15], size=(3, 4)))
    pattern = protect(counts, lines, k=K, least=not_the_grand_total)
    assert_safe(counts, lines, pattern, least=not_the_grand_total)
    assert lines_with_one_hidden(lines, pattern.hidden) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_3d_tables_with_possibly_empty_cells_survive_a_whole_number_intruder(seed):
    rng = np.random.default_rng(5000 + seed)
    counts, lines = cube(rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8, 20], size=(3, 3, 4)))
    pattern = protect(counts, lines, k=K, least=not_the_grand_total)
    assert_safe(counts, lines, pattern, least=not_the_grand_total)
    assert whole_number_intruder(counts, lines, pattern.hidden,
                                 least=not_the_grand_total) == set()


@pytest.mark.parametrize("seed", range(24))
def test_the_audit_of_possibly_empty_cells_finds_exactly_what_the_intruder_finds(seed):
    rng = random.Random(6000 + seed)
    counts, lines, hidden = hidden_cube(rng, 0.25)
    floors = {key: rng.choice([0, 1]) for key in counts}
    assert (audit(counts, lines, hidden, k=K, least=floors.__getitem__)
            == intruder(counts, lines, hidden, least=floors.__getitem__))
    proven = disclosure_audit.bounded(Table(counts, lines, least=floors.__getitem__),
                                      Table(counts, lines).mask(hidden), K)
    table = Table(counts, lines)
    assert {table.keys[i] for i in np.flatnonzero(proven)} <= intruder(
        counts, lines, hidden, least=floors.__getitem__)


def test_sparse_tables_hide_less_where_hidden_cells_may_be_empty():
    # What listed zeros buy: the intruder knows less, so less needs hiding (on these
    # seeds 20% fewer cells, and two totals published that were hidden).
    known = maybe = 0
    totals = []
    for seed in range(12):
        rng = np.random.default_rng(7000 + seed)
        counts, lines = cube(rng.choice([0, 0, 0, 1, 1, 1, 2, 3, 6], size=(4, 3, 5)))
        one = protect(counts, lines, k=K)
        other = protect(counts, lines, k=K, least=not_the_grand_total)
        known, maybe = known + len(one.hidden), maybe + len(other.hidden)
        totals.append((("t", ALL, ALL, ALL) in one.hidden, ("t", ALL, ALL, ALL) in other.hidden))
    assert maybe <= 0.85 * known
    assert (True, False) in totals and (False, True) not in totals


def marginals_first(key):
    """`publish_back`: the cells summed over most dimensions first, the total first of all."""
    return -sum(i == ALL for i in key[1:])


@pytest.mark.parametrize("least", [None, not_the_grand_total])
def test_cells_published_back_leave_a_pattern_that_survives_the_intruder(least):
    fewer = 0
    for seed in range(12):
        rng = np.random.default_rng(8000 + seed)
        counts, lines = cube(rng.choice([0, 0, 0, 1, 1, 1, 2, 3, 6, 14], size=(4, 3, 4)))
        plain = protect(counts, lines, k=K, least=least)
        pattern = protect(counts, lines, k=K, least=least, publish_back=marginals_first)
        assert_safe(counts, lines, pattern, least=least)
        assert whole_number_intruder(counts, lines, pattern.hidden, least=least) == set()
        assert pattern.hidden <= plain.hidden  # the same pattern, then some published
        assert len(plain.hidden - pattern.hidden) == pattern.published_back
        fewer += pattern.published_back
    assert fewer > 0


def test_a_total_the_line_rule_hid_is_published_back_and_nothing_else():
    # A sparse table (34 people, nearly all in cells of 1 or 2) whose total the line rule
    # hid; the audit does not need it hidden, and only the total is ranked.
    total = ("t", ALL, ALL, ALL)
    counts, lines = cube(np.random.default_rng(9065).choice([0, 0, 0, 0, 1, 1, 1, 2],
                                                            size=(4, 3, 4)))
    plain = protect(counts, lines, k=K, least=not_the_grand_total)
    assert total in plain.hidden
    only_total = protect(counts, lines, k=K, least=not_the_grand_total,
                         publish_back=lambda key: 0 if key == total else None)
    assert plain.hidden - only_total.hidden == {total}
    assert_safe(counts, lines, only_total, least=not_the_grand_total)


def test_publishing_back_past_the_deadline_keeps_the_safe_pattern():
    counts, lines = cube([[2, 10, 7, 30], [8, 9, 12, 1], [20, 3, 25, 40]])
    table = Table(counts, lines)
    hidden = table.mask(protect(counts, lines, k=K).hidden)
    before = hidden.copy()
    auditor = Auditor(table, K)
    everything = np.zeros(len(table.keys), dtype=bool)
    assert disclosure._published_back(table, auditor, hidden, everything, lambda key: 0, K,
                                      deadline=time.monotonic() - 1) == 0
    assert (hidden == before).all()


def test_copies_of_one_number_hold_someone_if_one_of_them_is_known_to():
    # "a2" repeats "a" (a line with a single part); "a" is known to hold someone, so its
    # copy is too, whatever `least` says of the copy: b then lies in [0, 4], exposed.
    counts = {"a": 2, "a2": 2, "b": 3, "ab": 5}
    lines = [Line("a", ("a2",)), Line("ab", ("a", "b"))]
    floors = {"a": 1, "a2": 0, "b": 0, "ab": 1}.__getitem__
    pattern = protect(counts, lines, k=K, least=floors)
    assert "ab" in pattern.hidden
    assert_safe(counts, lines, pattern, least=floors)


def test_a_zero_is_never_hidden_nor_audited_as_hidden():
    counts, lines = cube([[0, 3, 0], [0, 9, 0]])
    pattern = protect(counts, lines, k=K)
    assert {key for key in pattern.hidden if counts[key] == 0} == set()
    assert_safe(counts, lines, pattern)
    with pytest.raises(ValueError, match="zero"):
        audit(counts, lines, {("t", 0, 0)}, k=K)


def test_a_line_rule_leaves_a_small_hidden_part_room_to_reach_k():
    # Along the row, hidden parts 2 and 1 under a published total can only reach 2 + 1 - 1:
    # the rule hides until the row's hidden parts could hold k for the smallest one.
    counts, lines = cube([[2, 1, 30, 40], [20, 20, 30, 40]])
    pattern = protect(counts, lines, k=K)
    row = {("t", 0, j) for j in range(4)} & pattern.hidden
    assert sum(counts[key] - 1 for key in row) >= K - 1
    assert pattern.audit_added == 0
    assert_safe(counts, lines, pattern)


def test_a_count_bounded_inside_1_to_k_minus_1_is_exposed_though_not_derived():
    # a + b = 5, a + c = 9: every line holds two unknowns, yet a and b lie in [1, 4].
    counts = {"a": 2, "b": 3, "c": 7, "ab": 5, "ac": 9}
    lines = [Line("ab", ("a", "b")), Line("ac", ("a", "c"))]
    hidden = {"a", "b", "c"}
    assert audit(counts, lines, hidden, k=K) == {"a", "b"}
    assert intruder(counts, lines, hidden) == {"a", "b"}
    pattern = protect(counts, lines, k=K)
    assert_safe(counts, lines, pattern)


def test_bounds_are_rounded_inward_to_whole_numbers():
    # x + y = 12 = y + z, so x = z; x + z = v and v + u = 10 with u >= 1: in real numbers
    # x reaches 4.5, which is not inside [1, 4]; in whole numbers it stops at 4. v = 2x
    # reaches 9 and y, u are large: safe.
    counts = {"x": 2, "y": 10, "z": 2, "v": 4, "u": 6, "a": 12, "b": 12, "T": 10}
    lines = [Line("a", ("x", "y")), Line("b", ("y", "z")), Line("v", ("x", "z")),
             Line("T", ("v", "u"))]
    hidden = {"x", "y", "z", "v", "u"}
    assert intruder(counts, lines, hidden) == {"x", "z"}
    assert audit(counts, lines, hidden, k=K) == {"x", "z"}


def test_independent_tables_are_solved_as_separate_components(monkeypatch):
    rng = np.random.default_rng(7)
    first = cube(rng.choice([0, 1, 2, 3, 8, 20], size=(4, 5)), name="first")
    second = cube(rng.choice([0, 1, 2, 3, 8, 20], size=(3, 6)), name="second")
    sizes, calls = [], []
    real = disclosure_audit._Model

    class Counting(real):
        def __init__(self, a, values, **options):
            sizes.append(a.shape[1])
            self.n = a.shape[1]
            super().__init__(a, values, **options)

        def maximise(self, *args):
            calls.append(self.n)
            return super().maximise(*args)

        def reaches(self, *args):
            calls.append(self.n)
            return super().reaches(*args)

    monkeypatch.setattr(disclosure_audit, "_Model", Counting)
    apart = [protect(counts, lines, k=K) for counts, lines in (first, second)]
    calls_apart = len(calls)
    together = protect({**first[0], **second[0]}, first[1] + second[1], k=K)
    assert together.hidden == apart[0].hidden | apart[1].hidden
    assert len(calls) - calls_apart == sum(p.lp_calls for p in apart) == together.lp_calls
    assert max(sizes) < min(len(first[0]), len(second[0]))


def test_an_audit_past_its_deadline_raises_rather_than_answer():
    counts, lines, hidden = hidden_cube(random.Random(3), 0.5)
    table = Table(counts, lines)
    auditor = Auditor(table, K)
    auditor.exposed(table.mask(hidden))
    assert auditor.lp_calls > 0  # the answer needs LPs
    late = Auditor(table, K, deadline=time.monotonic() - 1)
    with pytest.raises(disclosure.OutOfTime):
        late.exposed(table.mask(hidden))
    with pytest.raises(disclosure.OutOfTime):
        protect(counts, lines, k=K, deadline=time.monotonic())
    assert protect(counts, lines, k=K, deadline=time.monotonic() + 600).hidden


def test_a_cell_in_no_line_only_gets_primary_suppression():
    counts, lines = cube([[1, 9], [9, 9]])
    counts |= {("need", "gbv"): 3, ("need", "shelter"): 40}  # multi-valued: no lines
    pattern = protect(counts, lines, k=K)
    assert ("need", "gbv") in pattern.hidden and ("need", "shelter") not in pattern.hidden
    assert_safe(counts, lines, pattern)


def test_counts_that_do_not_add_up_are_refused():
    with pytest.raises(ValueError, match="add up"):
        protect({"t": 5, "a": 1, "b": 1}, [Line("t", ("a", "b"))], k=K)


def test_information_loss_is_the_hidden_share_of_non_zero_cells_and_of_people():
    counts = {"zero": 0, "two": 2, "eight": 8, "ten": 10}
    assert information_loss(counts, {"zero", "two", "eight"}) == {"cells": 2 / 3,
                                                                  "people": 0.5}
    assert information_loss(counts, set()) == {"cells": 0.0, "people": 0.0}
    assert information_loss({"zero": 0}, {"zero"}) == {"cells": 0.0, "people": 0.0}


def test_protection_is_deterministic():
    rng = random.Random(3)
    array = [[rng.choice([0, 1, 2, 7, 30]) for _ in range(6)] for _ in range(5)]
    counts, lines = cube(array)
    assert protect(counts, lines, k=K).hidden == protect(counts, lines, k=K).hidden


def test_large_jobs_protected_side_by_side_get_the_patterns_protect_gives(monkeypatch):
    # The metrics of a release share no line: past disclosure.SIDE_BY_SIDE cells, all but
    # one are protected in processes of their own. Each must get what protect gives here,
    # and a job past its deadline must say so alone.
    rng = random.Random(5)
    jobs = {}
    for name in ("cases", "referrals", "late"):
        counts, lines = cube([[rng.choice([0, 1, 2, 7, 30]) for _ in range(6)]
                              for _ in range(5)], name)
        jobs[name] = {"counts": counts, "lines": lines, "k": K}
    jobs["late"]["deadline"] = time.monotonic() - 1
    sent = []

    class Pool(disclosure.ProcessPoolExecutor):
        def submit(self, fn, job):
            sent.append(next(iter(job["counts"]))[0])
            return super().submit(fn, job)

    monkeypatch.setattr(disclosure, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(disclosure.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    found = disclosure.protect_each(jobs, side_by_side=1)
    assert sorted(sent) == ["late", "referrals"]  # the first of the largest stays here
    assert list(found) == ["cases", "referrals", "late"]
    assert isinstance(found["late"], disclosure.OutOfTime)
    for name in ("cases", "referrals"):
        alone = protect(**jobs[name])
        assert found[name].hidden == alone.hidden and found[name].hidden > small(
            jobs[name]["counts"])
    # Below the threshold, or on one core, everything runs here, in order.
    sent.clear()
    assert disclosure.protect_each(jobs)["cases"].hidden == found["cases"].hidden
    monkeypatch.setattr(disclosure.os, "sched_getaffinity", lambda pid: {0})
    assert disclosure.protect_each(jobs, side_by_side=1)["referrals"].hidden == (
        found["referrals"].hidden)
    assert sent == []
    # Any other failure of a job is raised, whichever process ran it.
    monkeypatch.setattr(disclosure.os, "sched_getaffinity", lambda pid: {0, 1})
    jobs["referrals"]["k"] = 0
    with pytest.raises(ValueError, match="k must be at least 1"):
        disclosure.protect_each(jobs, side_by_side=1)


def test_a_releaser_killed_mid_release_leaves_no_process_computing():
    # disclosure.protect_each's processes end with the process that asked: a web worker
    # restarted in the middle of a month's release must not leave its jobs running.
    script = textwrap.dedent("""
        import os, sys, time
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        from referral.services import disclosure
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"),
                                 initializer=disclosure._die_with_parent) as pool:
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 120)
            time.sleep(120)
    """)
    asker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             text=True)
    try:
        worker = int(asker.stdout.readline())
        os.kill(worker, 0)  # computing
    finally:
        asker.kill()
        asker.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, 9)
    pytest.fail("the worker outlived the process that asked")


@pytest.mark.parametrize("seed", range(20))
def test_propagation_only_calls_exposed_what_the_intruder_exposes(seed):
    # disclosure_audit.bounded skips the LP for the cells it shows below k: it must never
    # call a cell exposed that the LP intruder cannot narrow.
    counts, lines, hidden = hidden_cube(random.Random(4000 + seed), 0.3)
    table = Table(counts, lines, extra=hidden)
    proven = {table.keys[i] for i in np.flatnonzero(disclosure_audit.bounded(
        table, table.mask(hidden), K))}
    assert proven <= intruder(counts, lines, hidden)


def test_propagation_follows_bounds_through_a_hidden_total():
    # t = a + b, and t + u = 6 with u at least 1: t <= 5, so a, b <= 4 although their own
    # line has a hidden total; u = 6 - t <= 4 since t >= 2. t itself reaches 5: safe.
    counts = {"a": 2, "b": 2, "t": 4, "u": 2, "T": 6}
    lines = [Line("t", ("a", "b")), Line("T", ("t", "u"))]
    table = Table(counts, lines)
    hidden = table.mask({"a", "b", "t", "u"})
    proven = disclosure_audit.bounded(table, hidden, K)
    assert {table.keys[i] for i in np.flatnonzero(proven)} == {"a", "b", "u"}
    assert intruder(counts, lines, {"a", "b", "t", "u"}) == {"a", "b", "u"}


def test_propagation_names_the_lines_that_hold_a_cell_down():
    # The example above: a and b are held down by their own line (t - 1 = 4), t by t + u.
    counts = {"a": 2, "b": 2, "t": 4, "u": 2, "T": 6}
    lines = [Line("t", ("a", "b")), Line("T", ("t", "u"))]
    table = Table(counts, lines)
    propagation = disclosure_audit.Propagation(table, table.mask({"a", "b", "t", "u"}))
    a, t = table.index["a"], table.index["t"]
    assert propagation.holding(a, K) == [(0, 4.0)]
    assert propagation.holding(t, 6) == [(1, 5.0)] and propagation.upper(t) == 5
    assert propagation.holding(a, 4) == []


def test_an_exposure_is_fixed_in_the_line_that_holds_it_down_even_one_line_up():
    # t = a + b and T = t + u + w bound t by 16 - 10 - 1 = 5, so a, b <= 4. The cell to
    # hide is w, two lines away, in the line holding t down: A, the only published cell
    # beside a, would leave a exactly as exposed (a + z = 42 bounds it at 41 anyway).
    counts = {"a": 2, "b": 2, "t": 4, "u": 2, "w": 10, "T": 16, "z": 40, "A": 42}
    lines = [Line("t", ("a", "b")), Line("T", ("t", "u", "w")), Line("A", ("a", "z"))]
    table = Table(counts, lines)
    hidden = table.mask({"a", "b", "t", "u", "z"})
    suppressor = disclosure._Suppressor(table, np.zeros_like(hidden), hidden, K)
    propagation = disclosure_audit.Propagation(table, hidden)
    a = table.index["a"]
    assert table.keys[suppressor.nearest_candidate(a)] == "A"
    assert table.keys[suppressor.loosening(a, propagation, K)] == "w"
    hidden[table.index["w"]] = True
    assert not disclosure_audit.Propagation(table, hidden).exposed(K)[a]


def test_the_audit_names_the_lines_an_lp_holds_an_exposed_cell_down_by():
    # x = z, and x + z = v with v + u = 10: x <= 4, which only the LP sees. The LP's
    # non-zero duals name the lines doing it; the line with the published 10 is one.
    counts = {"x": 2, "y": 10, "z": 2, "v": 4, "u": 6, "a": 12, "b": 12, "T": 10}
    lines = [Line("a", ("x", "y")), Line("b", ("y", "z")), Line("v", ("x", "z")),
             Line("T", ("v", "u"))]
    table = Table(counts, lines)
    auditor = Auditor(table, K)
    hidden = table.mask({"x", "y", "z", "v", "u"})
    assert not disclosure_audit.bounded(table, hidden, K)[table.index["x"]]
    assert {table.keys[i] for i in auditor.exposed(hidden)} == {"x", "z"}
    assert 3 in auditor.holding[table.index["x"]].lines



@pytest.mark.parametrize("seed", [44, 72, 73, 114, 122, 127, 199])  # relaxations prove some
def test_exposures_proven_by_the_lines_near_a_cell_alone_are_exactly_the_intruders(
        seed, monkeypatch):
    # On a component this small the whole LP is cheap, so its relaxations are tried only
    # here: every cell they call exposed must be, and the cells they cannot settle still
    # get the whole LP.
    monkeypatch.setattr(disclosure_audit, "NEAR_ABOVE", 0)
    monkeypatch.setattr(disclosure_audit, "NEAR", 3)
    proofs = []
    real = disclosure_audit._Bounds

    class Watched(real):
        def exposed(self, enough=None):
            found = super().exposed(enough)
            proofs.append(self.near_proofs)
            return found

    monkeypatch.setattr(disclosure_audit, "_Bounds", Watched)
    counts, lines, hidden = hidden_cube(random.Random(3000 + seed), 0.5)
    assert audit(counts, lines, hidden, k=K) == intruder(counts, lines, hidden)
    assert sum(proofs)  # a relaxation did prove one


def test_an_lp_exposure_is_fixed_by_a_cell_big_enough_to_lift_its_maximum():
    # x = z (both 12 - y), x + z = v, and v + u = 19 - w - s = 7 with u >= 1: 2x <= 6, so
    # x <= 3, which only the LP sees, 2 short of k. Every line holds x down with a dual of
    # 1/2: hidden, w (3) lets x reach (7 + 3 - 1) / 2 = 4, still exposed; s (9) reaches 7.
    counts = {"x": 2, "y": 10, "z": 2, "v": 4, "u": 3, "w": 3, "s": 9, "a": 12, "b": 12,
              "T": 19}
    lines = [Line("a", ("x", "y")), Line("b", ("y", "z")), Line("v", ("x", "z")),
             Line("T", ("v", "u", "w", "s"))]
    table = Table(counts, lines)
    hidden = table.mask({"x", "y", "z", "v", "u"})
    auditor = Auditor(table, K)
    assert not disclosure_audit.bounded(table, hidden, K)[table.index["x"]]
    assert {table.keys[i] for i in auditor.exposed(hidden)} == {"x", "z"}
    holding = auditor.holding[table.index["x"]]
    assert holding.short == pytest.approx(2)
    suppressor = disclosure._Suppressor(table, np.zeros_like(hidden), hidden.copy(), K)
    assert table.keys[suppressor.among(holding)] == "s"
    assert audit(counts, lines, {"x", "y", "z", "v", "u", "w"}, k=K) == {"x", "z"}
    assert audit(counts, lines, {"x", "y", "z", "v", "u", "s"}, k=K) == set()


def test_a_cell_whose_lines_duals_cancel_is_not_hidden_for_an_lp_exposure():
    # c lies in both lines holding a cell down, with duals +1/2 and -1/2: hidden, c leaves
    # that bound as it was however big it is. p (room 3) lifts it by 3/2 at most; q, whose
    # line's dual is negative, breaks the bound.
    counts = {"A": 30, "c": 20, "p": 4, "o": 6, "B": 32, "q": 8, "r": 4}
    lines = [Line("A", ("c", "p", "o")), Line("B", ("c", "q", "r"))]
    table = Table(counts, lines)
    hidden = table.mask({"o", "r"})
    suppressor = disclosure._Suppressor(table, np.zeros_like(hidden), hidden.copy(), K)

    def pick(short):
        holding = disclosure_audit.Holding(np.array([0, 1]), np.array([0.5, -0.5]), short)
        return table.keys[suppressor.among(holding)]

    assert pick(1.0) == "p"  # enough, and smaller than q
    assert pick(2.0) == "q"  # beyond what p can do: the smallest that breaks the bound
    assert "c" not in {pick(short) for short in (0.5, 1.0, 2.0, 4.0)}

def test_cells_in_lines_that_publish_nothing_are_unbounded_without_an_lp(monkeypatch):
    # Every cell of a 3x4 table and its margins hidden: the intruder knows only that the
    # cells add up, and any multiple of the true counts does, so nothing is bounded. The
    # audit says so without an LP (a month of a million cases had 100,000 such unknowns).
    counts, lines = cube([[1, 2, 1, 3], [2, 1, 4, 1], [1, 1, 2, 2]])
    monkeypatch.setattr(disclosure_audit, "_Model", None)  # any LP would fail
    auditor = Auditor(Table(counts, lines), K)
    hidden = np.ones(len(auditor.table.keys), dtype=bool)
    assert auditor.exposed(hidden) == set()
    assert intruder(counts, lines, set(counts)) == set()


def test_a_component_with_a_published_count_still_gets_its_lps():
    counts, lines = cube([[1, 2, 1, 3], [2, 1, 4, 1], [1, 1, 2, 2]])
    hidden = set(counts) - {("t", ALL, ALL)}  # the grand total, 21, published
    assert audit(counts, lines, hidden, k=K) == intruder(counts, lines, hidden)


@pytest.mark.parametrize("seed", range(12))
def test_components_audited_by_blocks_never_call_safe_what_is_exposed(seed, monkeypatch):
    # A component too large for one LP is audited by blocks, the rest of it held at its
    # true counts: a block's solution is one of the whole's, so what it calls safe is safe;
    # what it cannot show safe is called exposed (more hidden, never less safe).
    counts, lines, hidden = hidden_cube(random.Random(5000 + seed), 0.3)
    exact = audit(counts, lines, hidden, k=K)
    monkeypatch.setattr(disclosure_audit, "LARGE", 6)
    by_blocks = audit(counts, lines, hidden, k=K)
    assert exact == intruder(counts, lines, hidden)
    assert by_blocks >= exact


@pytest.mark.parametrize("seed", range(8))
def test_releases_protected_by_blocks_survive_the_whole_intruder(seed, monkeypatch):
    monkeypatch.setattr(disclosure_audit, "LARGE", 8)
    rng = np.random.default_rng(700 + seed)
    counts, lines = cube(rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 20], size=(3, 3, 4)))
    assert_safe(counts, lines, protect(counts, lines, k=K))


def test_blocks_hold_every_target_inside_with_the_lines_through_them():
    counts, lines, hidden = hidden_cube(random.Random(11), 0.5)
    table = Table(counts, lines)
    columns = np.flatnonzero(table.mask(hidden))
    a = table.matrix[:, columns].tocsr()
    a = a[np.flatnonzero(np.diff(a.indptr))]
    targets = (table.values[columns] >= 1) & (table.values[columns] <= K - 1)
    covered = np.zeros(a.shape[1], dtype=bool)
    blocks = list(disclosure_audit._blocks(a, targets.copy(), 10))
    assert len(blocks) > 1
    for cells, rows, inner in blocks:
        assert len(cells) <= 10
        assert set(rows.tolist()) == set(np.flatnonzero(abs(a[:, cells]).sum(axis=1)).tolist())
        covered[cells[inner]] = True
        if inner.sum() > 1:  # a whole ring around the inside fitted: its lines are in
            ring = np.flatnonzero(abs(a[:, cells[inner]]).sum(axis=1))
            assert set(np.flatnonzero(abs(a[ring]).sum(axis=0)).tolist()) <= set(cells.tolist())
    assert covered[targets].all()
