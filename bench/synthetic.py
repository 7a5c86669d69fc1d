"""Benchmark `flask synthetic`: 100,000 synthetic cases into the demo directory.

Runs the service the command runs (batches of 5,000 cases, each committed) into a
temporary SQLite file and, when a PostgreSQL server answers at BENCH_PG_URL, into a
scratch database it creates and drops. Prints `name  measured  baseline  ratio  target`
lines: the time of the run, and 1,000,000 cases extrapolated from the pace of the last
fifth of the run (the tables are largest then, so the pace is the slowest seen). The
baselines are the times of the first version, which inserted through SQLAlchemy Core
executemany on both databases. Not a test: it always exits 0.

    .venv/bin/python bench/synthetic.py [CASES]    (BENCH_DATABASES=sqlite to skip PostgreSQL)
"""

import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from _scratch import scratch_postgres  # bench/, beside this script

from referral import create_app
from referral.extensions import db
from referral.models import Case, FollowUp, Referral, Subject
from referral.services import demo, synthetic
from referral.services.crypto import Keyring

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CASES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ONLY = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
MILLION = 1_000_000
TARGET_S = {100_000: 60.0, MILLION: 600.0}  # 100k in a minute; a million in ten at most
BASELINE_S = {("sqlite", 100_000): 52.0, ("postgresql", 100_000): 87.0,
              ("sqlite", MILLION): 641.0, ("postgresql", MILLION): 807.0}
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
ROW = "{:<40} {:>10} {:>10} {:>7} {:>10}"


def label(count: int) -> str:
    return f"{count // MILLION}M" if count % MILLION == 0 else f"{count // 1000}k"


def line(name: str, database: str, count: int, seconds: float) -> None:
    """One figure: measured, the baseline for this size (if any), their ratio, the target."""
    baseline = BASELINE_S.get((database, count))
    target = TARGET_S.get(count, TARGET_S[100_000] * count / 100_000)
    flag = "" if seconds <= target else "  OVER TARGET"
    print(ROW.format(name, f"{seconds:.1f} s", f"{baseline:.0f} s" if baseline else "-",
                     f"{seconds / baseline:.2f}" if baseline else "-",
                     f"<= {target:.0f} s") + flag)


def cpu_seconds(pid: int | str) -> float:
    """CPU time of this process ("self"), its finished children ("children"), or of the
    process `pid` (Linux only)."""
    if pid in ("self", "children"):
        usage = resource.getrusage(resource.RUSAGE_SELF if pid == "self"
                                   else resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # a server on another machine
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(url: str, workdir: Path) -> tuple[float, list, synthetic.Summary, int, dict]:
    """Fill a fresh database at `url`; (seconds, [(cases, seconds)] per batch, summary,
    rows, CPU seconds spent by Python and by the database server's backend)."""
    app = create_app({"SECRET_KEY": "bench-secret-key", "DATABASE_URL": url,
                      "KEYRING": str(workdir / "keyring.json"), "INSTANCE_PATH": str(workdir)})
    with app.app_context():
        try:
            db.create_all()
            demo.import_directory(db.session, NOW)
            db.session.commit()
            marks = []
            backend = (db.session.scalar(sa.text("SELECT pg_backend_pid()"))
                       if url.startswith("postgresql") else None)
            sides = {"self": "self", "child": "children", "server": backend}
            cpu = {side: cpu_seconds(pid) for side, pid in sides.items() if pid}
            started = time.perf_counter()

            def progress(written: int) -> None:
                done = marks[-1][0] + written if marks else written
                marks.append((done, time.perf_counter() - started))

            summary = synthetic.add(db.session, cases=CASES, seed=20261122, now=NOW,
                                    between_batches=db.session.commit, progress=progress)
            db.session.commit()
            elapsed = time.perf_counter() - started
            cpu = {side: cpu_seconds(sides[side]) - seconds for side, seconds in cpu.items()}
            rows = sum(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                       for model in (Case, Subject, Referral, FollowUp))
        finally:
            db.session.remove()
            db.engine.dispose()
    return elapsed, marks, summary, rows, cpu


def run(database: str, url: str, workdir: Path) -> None:
    """Fill a fresh database at `url` and print how long it took."""
    elapsed, marks, summary, rows, cpu = fill(url, workdir)
    server = f", {cpu['server']:.1f} s in the server's backend" if "server" in cpu else ""
    print(f"# {database}: {summary.cases} cases, {summary.subjects} subjects, "
          f"{sum(summary.referrals.values())} referrals, {summary.follow_ups} follow-ups "
          f"({rows} rows in those four tables, {CASES / elapsed:,.0f} cases/s)")
    print(f"# {database} CPU time: {cpu['child']:.1f} s drawing in the child process, "
          f"{cpu['self']:.1f} s in this one{server}; with a core free for each, the run "
          "takes about the largest of these")
    line(f"synthetic {label(CASES)} {database}", database, CASES, elapsed)
    if CASES >= MILLION:
        return
    tail = [mark for mark in marks if mark[0] >= 0.8 * CASES] or marks
    first = next((mark for mark in reversed(marks) if mark[0] < tail[0][0]), (0, 0.0))
    pace = (tail[-1][1] - first[1]) / max(1, tail[-1][0] - first[0])  # seconds per case
    line(f"synthetic 1M {database} (extrapolated)", database, MILLION,
         elapsed + pace * (MILLION - CASES))


def run_postgres(workdir: Path) -> None:
    with scratch_postgres(PG_URL, "referral_bench_synthetic") as url:
        if url is None:
            print(f"synthetic postgresql  skipped: no PostgreSQL server answers at {PG_URL}")
            return
        run("postgresql", url, workdir)


def main() -> int:
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(ROW.format("name", "measured", "baseline", "ratio", "target"))
    with tempfile.TemporaryDirectory(prefix="referral-bench-") as tmp:
        workdir = Path(tmp)
        Keyring.create(workdir / "keyring.json")
        if "sqlite" in ONLY:
            run("sqlite", "sqlite:///" + str(workdir / "bench.sqlite3"), workdir)
        if "postgresql" in ONLY:
            run_postgres(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
