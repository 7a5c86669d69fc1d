"""Benchmark protecting one part, the unit every release is audited in.

A part is the days of one ISO week inside one month (services/stats.py): a month's release
audits its parts first, so a month can take no less than its parts do. On a fresh SQLite
file, CASES synthetic cases over 2025 (default 200,000; bench/stats.py's fill), then part
2025-06-09 (a whole week inside June) counted as `stats.release` counts it, and
protected as `stats.release` protects it: each metric's cells and lines, side by side when
large (`disclosure.protect_each`). Prints what each metric hid, its audit rounds and LPs,
then `name  measured  baseline  ratio  target`: the target is a sixth of the 60 s a month's
release may take (a month has up to six parts). Quicker than bench/stats.py, which
releases whole months and a year. Not a test: it always exits 0.

    .venv/bin/python bench/part.py [CASES]
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import stats as bench  # bench/stats.py, beside this script

from referral.extensions import db
from referral.services import disclosure, periods
from referral.services import stats as releases
from referral.services.crypto import Keyring

CASES = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200_000
PART = "2025-06-09"
TARGET_S = bench.MONTH_TARGET_S / 6


def main() -> int:
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{CASES:,} cases, k = {bench.K}")
    with tempfile.TemporaryDirectory(prefix="referral-bench-") as tmp:
        workdir = Path(tmp)
        Keyring.create(workdir / "keyring.json")
        url = "sqlite:///" + str(workdir / "bench.sqlite3")
        bench.CASES = CASES
        bench.fill(url, workdir)
        app = bench.app_for(url, workdir)
        with app.app_context():
            counts, lines = {}, []
            releases._counted(db.session, periods.from_key(periods.PART, PART), counts, lines)
        jobs = {metric: {"counts": {key: n for key, n in counts.items() if key[0] == metric},
                         "lines": [line for line in lines if line.total[0] == metric],
                         "k": bench.K}
                for metric in ("cases", "referrals")}
        started = time.perf_counter()
        patterns = disclosure.protect_each(jobs)  # side by side when large, as a release does
        seconds = time.perf_counter() - started
        for metric, pattern in patterns.items():
            cells = jobs[metric]["counts"]
            first = [key for key in cells if len(key[2]) <= 1]  # what managers read first
            print(f"#   {metric}: {len(pattern.hidden):,} of {len(cells):,} cells hidden "
                  f"({len(pattern.hidden.intersection(first))} of the {len(first)} of one "
                  f"dimension or none), {pattern.rounds} audit rounds, "
                  f"{pattern.lp_calls:,} LPs", flush=True)
    bench.line("name", "measured", "baseline", "ratio", "target")
    bench.line(f"protect part {PART}, both metrics (s)", f"{seconds:.1f}",
               target=f"{TARGET_S:.0f}", over=seconds > TARGET_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
