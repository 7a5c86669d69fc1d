"""Benchmark disclosure.protect on release-sized inputs.

Synthetic people with skewed categories (a few common values, a long tail of rare ones), so
many cells are small. Two inputs, k = 5:
- `cube`: one table of 3 dimensions x 20 values with all its marginals (9,261 cells);
- `release`: every table of up to 3 of 9 dimensions (2 to 20 values), sharing marginals,
  as a monthly release holds them (about 30,000 cells).
Prints what was hidden, then `name  measured  target` (seconds). Not a test: exits 0.

    .venv/bin/python bench/disclosure.py
"""

import itertools
import time

import numpy as np

from referral.services.disclosure import Line, information_loss, protect

K = 5
TARGET_S = 10.0


def people(rng: np.random.Generator, sizes: list[int], n: int) -> np.ndarray:
    """n people x len(sizes) categories, each dimension Zipf-like (weight 1 / rank^1.3)."""
    columns = []
    for size in sizes:
        weights = 1.0 / np.arange(1, size + 1) ** 1.3
        columns.append(rng.choice(size, size=n, p=weights / weights.sum()))
    return np.column_stack(columns)


def tables(records: np.ndarray, sizes: list[int], depth: int):
    """Counts and lines of every table of up to `depth` dimensions; a cell is its pairs."""
    counts: dict[frozenset, int] = {}
    lines: list[Line] = []
    for r in range(depth + 1):
        for dims in itertools.combinations(range(len(sizes)), r):
            shape = [sizes[d] for d in dims]
            flat = np.ravel_multi_index(records[:, dims].T, shape) if dims else np.zeros(
                len(records), dtype=np.int64)
            table = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
            for values in itertools.product(*(range(s) for s in shape)):
                cell = frozenset(zip(dims, values, strict=True))
                counts[cell] = int(table[values])
                for d, v in zip(dims, values, strict=True):
                    if v == 0:  # one line per (margin cell, dimension)
                        total = cell - {(d, v)}
                        parts = tuple(total | {(d, w)} for w in range(sizes[d]))
                        lines.append(Line(total, parts))
    return counts, lines


def run(name: str, counts: dict, lines: list[Line]) -> None:
    start = time.perf_counter()
    pattern = protect(counts, lines, k=K)
    seconds = time.perf_counter() - start
    loss = information_loss(counts, pattern.hidden)
    print(f"{name}: {len(counts)} cells, {len(lines)} lines; {len(pattern.primary)} primary, "
          f"{pattern.complementary} by the line rule, {pattern.audit_added} by the audit in "
          f"{pattern.rounds} rounds, {pattern.lp_calls} LPs; hidden {loss['cells']:.1%} of "
          f"non-zero cells, {loss['people']:.2%} of the count")
    flag = "" if seconds <= TARGET_S else "  OVER TARGET"
    print(f"disclosure.protect {name}  {seconds:6.2f} s  <= {TARGET_S:.0f} s{flag}")


def main() -> None:
    rng = np.random.default_rng(20261122)
    sizes = [20, 20, 20]
    run("cube", *tables(people(rng, sizes, 20_000), sizes, 3))
    sizes = [2, 7, 20, 6, 3, 12, 4, 8, 5]
    run("release", *tables(people(rng, sizes, 30_000), sizes, 3))


if __name__ == "__main__":
    main()
