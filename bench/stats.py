"""Benchmark statistics: releasing a month and a year, and reading GET /stats.

On a fresh SQLite file and, when a PostgreSQL server answers at BENCH_PG_URL, a scratch
PostgreSQL database: the demo directory, then CASES synthetic cases (default 1,000,000)
over the twelve months of one calendar year, so that the year is finished and whole. Then:
- one month released alone, in a fresh process (its time and peak memory, from wait4),
  then GET /stats over that month (as below);
- the year's other months, each in a fresh process;
- GET /stats?period=month&group_by=nationality and a three-dimension request, end to end
  through the app (a manager's token, the audit event included), against the same GROUP
  BY written by hand in SQL over the cases (median of RUNS runs each);
- the year's quarters, then the year itself, each in a fresh process, then its weeks
  (over the parts the months released) in one; unless the other
  eleven months would take longer than BENCH_YEAR_BUDGET_S (default four hours) at the
  first month's pace: then a line says so, and how long they would take.
A release still running after BENCH_RELEASE_TIMEOUT_S (default an hour) is stopped, its
line says so, and what needs it is skipped; if it was the month, reading is measured all the
same, over the month's cells stored without an audit (`store_unaudited`).
Prints `name  measured  baseline  ratio  target`. Not a test: it always exits 0.

    .venv/bin/python bench/stats.py [CASES]    (BENCH_DATABASES=sqlite to skip PostgreSQL)
"""

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from _scratch import scratch_postgres  # bench/, beside this script

from referral import create_app
from referral.extensions import db
from referral.models import AuditEvent, Case, StatsCell, StatsRelease
from referral.services import auth, demo, periods, stats, synthetic
from referral.services.crypto import Keyring

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CASES = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
ONLY = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)  # the last twelve finished months: 2025
YEAR, MONTH = "2025", "2025-06"
RUNS = 5
YEAR_BUDGET_S = float(os.environ.get("BENCH_YEAR_BUDGET_S", 4 * 3600))
# Past this, a release in a child process is stopped and its line says so.
RELEASE_TIMEOUT_S = float(os.environ.get("BENCH_RELEASE_TIMEOUT_S", 3600))
PASSWORD = secrets.token_urlsafe(16)  # a throwaway account in a throwaway database
K = 5
MONTH_TARGET_S, MONTH_TARGET_MB = 60.0, 1024.0
READ_TARGET_RATIO = 0.5
ROW = "{:<66} {:>11} {:>11} {:>7} {:>11}"
READS = {
    "nationality": ("nationality",),
    "intake_facility,nationality,sex": ("facility_id", "nationality", "sex"),
}


def line(name, measured, baseline="-", ratio="-", target="-", over=False):
    print(ROW.format(name, measured, baseline, ratio, target) + ("  OVER TARGET" if over
                                                                  else ""), flush=True)


def app_for(url: str, workdir: Path):
    return create_app({"SECRET_KEY": "bench-secret-key", "DATABASE_URL": url,
                       "KEYRING": str(workdir / "keyring.json"),
                       "INSTANCE_PATH": str(workdir), "SUPPRESSION_K": K})


def fill(url: str, workdir: Path) -> None:
    app = app_for(url, workdir)
    with app.app_context():
        db.create_all()
        demo.import_directory(db.session, NOW)
        db.session.commit()
        started = time.perf_counter()
        synthetic.add(db.session, cases=CASES, months=12, seed=20250101, now=NOW,
                      between_batches=db.session.commit)
        db.session.commit()
        print(f"# {CASES:,} synthetic cases over 2025 in {time.perf_counter() - started:.0f} s",
              flush=True)
        db.session.remove()
        db.engine.dispose()


class TimedOut(Exception):
    """A release in a child process ran past RELEASE_TIMEOUT_S and was stopped."""

    def __init__(self, peak_mb: float):
        super().__init__(f"stopped after {RELEASE_TIMEOUT_S:.0f} s")
        self.peak_mb = peak_mb


def release_in_child(url: str, workdir: Path, kind: str, key: str) -> tuple[float, float]:
    """Release one period (and whatever it needs first) in a fresh process: (s, peak MB).
    Says what share of its cells it hid, and for which metrics a month's joint audit with
    its parts ran out of time (stats.MONTH_AUDIT_S) and fell back on hiding what they hid.
    Raises TimedOut (with the peak memory so far) once it has run RELEASE_TIMEOUT_S."""
    env = {**os.environ, "BENCH_CHILD": "1"}
    process = subprocess.Popen([sys.executable, __file__, "child", url, str(workdir), kind,
                                key], env=env)
    deadline = time.monotonic() + RELEASE_TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            raise TimedOut(usage.ru_maxrss / 1024)
        time.sleep(0.5)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"releasing {kind} {key} failed")
    seconds = float((workdir / "child-seconds").read_text())
    print(f"#   {kind} {key}: {(workdir / 'child-release').read_text()}", flush=True)
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def child(url: str, workdir: str, kind: str, key: str) -> None:
    app = app_for(url, Path(workdir))
    with app.app_context():
        started = time.perf_counter()
        if kind == "weeks":  # the weeks from the one holding 1 January to the last ended
            year = periods.from_key("year", key)
            weeks = periods.finished_between("week", year.start, year.end)
            made = [stats.release(db.session, week, now=datetime.now(UTC), k=K)[0]
                    for week in weeks]
            stats.analyze(db.session)
            Path(workdir, "child-seconds").write_text(str(time.perf_counter() - started))
            cells, hidden = sum(r.cells for r in made), sum(r.hidden_cells for r in made)
            Path(workdir, "child-release").write_text(
                f"{len(made)} weeks, {hidden:,} of {cells:,} cells hidden "
                f"({hidden / max(cells, 1):.1%})")
            return
        made, _ = stats.release(db.session, periods.from_key(kind, key),
                                now=datetime.now(UTC), k=K)
        stats.analyze(db.session)  # commits, as `flask stats release` does
        Path(workdir, "child-seconds").write_text(str(time.perf_counter() - started))
        event = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "stats_released",
            AuditEvent.object_id == str(made.id))).one()
        nested = ", ".join(event.detail.get("nested", [])) or "none"
        small = db.session.execute(sa.select(
            sa.func.count(), sa.func.count().filter(StatsCell.count.is_(None)))
            .where(StatsCell.release_id == made.id,
                   sa.not_(StatsCell.dimensions.contains(",")))).one()
        parts = db.session.scalars(sa.select(StatsRelease).where(
            StatsRelease.period == periods.PART, StatsRelease.created_at == made.created_at,
            StatsRelease.starts_at >= made.starts_at, StatsRelease.ends_at <= made.ends_at)
            .order_by(StatsRelease.seconds.desc())).all()
        # A part's `seconds` include nothing else; the month's own include its parts'.
        made_of = (f"{len(parts)} parts released with it, {sum(p.seconds for p in parts):.1f} s "
                   f"(the slowest {parts[0].period_key}: {parts[0].seconds:.1f} s); "
                   if parts else "")
        Path(workdir, "child-release").write_text(
            made_of + f"{made.hidden_cells:,} of {made.cells:,} cells hidden "
            f"({made.hidden_cells / max(made.cells, 1):.1%}), {small[1]:,} of {small[0]:,} "
            f"in tables of one dimension or none ({small[1] / max(small[0], 1):.1%}); "
            f"joint audit out of time for: {nested}")


def store_unaudited(url: str, workdir: Path, key: str) -> None:
    """Store month `key` as a release would, every small count hidden but with no audit:
    what a request reads, when the real release could not finish. A stand-in for reading
    only, in the benchmark's throwaway database."""
    app = app_for(url, workdir)
    with app.app_context():
        period = periods.from_key("month", key)
        counts = {}
        started = time.perf_counter()
        stats._counted(db.session, period, counts)
        counted_s = time.perf_counter() - started
        hidden = {cell for cell, n in counts.items() if 1 <= n < K}
        stats._store(db.session, period, (counts, list(counts), hidden, []),
                     started=time.monotonic(), now=datetime.now(UTC), k=K, actor=None,
                     made=None)
        stats.analyze(db.session)
        print(f"#   month {key} counted in {counted_s:.1f} s (every table of both metrics, "
              f"GROUP BY) and stored unaudited: {len(counts):,} cells", flush=True)
        db.session.remove()
        db.engine.dispose()


def month_column(url: str):
    if url.startswith("sqlite"):
        return sa.func.strftime("%Y-%m", Case.created_at)
    return sa.func.to_char(sa.func.date_trunc("month", Case.created_at), "YYYY-MM")


def median_seconds(work) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reads(url: str, workdir: Path, database: str, first: str, last: str) -> None:
    """GET /stats over the months `first`..`last` against the GROUP BY by hand over the
    cases of those months."""
    app = app_for(url, workdir)
    with app.app_context():
        username = f"bench-manager-{first}-{last}"  # one throwaway account per range
        auth.create_user(db.session, username, PASSWORD, "manager")
        db.session.commit()
        token, _ = auth.login(db.session, username, PASSWORD, None, datetime.now(UTC))
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        start = periods.from_key("month", first).start
        end = periods.from_key("month", last).end
        for group_by, columns in READS.items():
            def request(group_by=group_by):
                response = client.get("/api/v1/stats", headers=headers, query_string={
                    "period": "month", "group_by": group_by, "from": first, "to": last})
                assert response.status_code == 200, response.get_data(as_text=True)

            def by_hand(columns=columns):
                month = month_column(url)
                grouped = [month, *(getattr(Case, name) for name in columns)]
                db.session.execute(
                    sa.select(*grouped, sa.func.count())
                    .where(Case.created_at >= start, Case.created_at < end)
                    .group_by(*grouped)).all()
                db.session.rollback()

            request()  # warm: the releases exist already; this loads the code paths
            measured, baseline = median_seconds(request), median_seconds(by_hand)
            ratio = measured / baseline
            span = first if first == last else f"{first}..{last}"
            line(f"GET /stats {span} by {group_by} {database}", f"{measured * 1000:.0f} ms",
                 f"{baseline * 1000:.0f} ms", f"{ratio:.2f}", f"<= {READ_TARGET_RATIO}x",
                 ratio > READ_TARGET_RATIO)
        db.session.remove()
        db.engine.dispose()


def run(database: str, url: str, workdir: Path) -> None:
    fill(url, workdir)
    try:
        seconds, peak = release_in_child(url, workdir, "month", MONTH)
    except TimedOut as stopped:
        line(f"stats release month {MONTH} {database}", f">{RELEASE_TIMEOUT_S:.0f} s", "-",
             "-", f"<= {MONTH_TARGET_S:.0f} s", True)
        line(f"  peak memory {database}", f">={stopped.peak_mb:.0f} MB", "-", "-",
             f"<= {MONTH_TARGET_MB:.0f} MB", stopped.peak_mb > MONTH_TARGET_MB)
        print(f"# the month was {stopped}, unreleased (BENCH_RELEASE_TIMEOUT_S); the year's "
              "releases skipped. Reading is measured over the month's cells stored unaudited "
              "(every small count hidden): a request reads the same rows whichever of them "
              "are hidden", flush=True)
        store_unaudited(url, workdir, MONTH)
        reads(url, workdir, database, MONTH, MONTH)
        return
    line(f"stats release month {MONTH} {database}", f"{seconds:.1f} s", "-", "-",
         f"<= {MONTH_TARGET_S:.0f} s", seconds > MONTH_TARGET_S)
    line(f"  peak memory {database}", f"{peak:.0f} MB", "-", "-",
         f"<= {MONTH_TARGET_MB:.0f} MB", peak > MONTH_TARGET_MB)
    # The month's reads first: when the other months take too long to wait for, the
    # reading figures are printed all the same.
    reads(url, workdir, database, MONTH, MONTH)
    year = periods.from_key("year", YEAR)
    # The year needs its eleven other months released first: at a month's pace of an hour,
    # that is half a day. Say so, rather than leave `make bench` running into tomorrow.
    if seconds * 11 > YEAR_BUDGET_S:
        line(f"stats release year {YEAR} {database}", "skipped")
        print(f"# the year's other 11 months would take about {seconds * 11 / 3600:.1f} h at "
              f"this month's pace; BENCH_YEAR_BUDGET_S={YEAR_BUDGET_S:.0f} allows less",
              flush=True)
        return
    try:
        year_releases(url, workdir, database, year, seconds)
    except TimedOut as stopped:
        print(f"# a release was {stopped} (BENCH_RELEASE_TIMEOUT_S); the rest of the year "
              "skipped", flush=True)


def year_releases(url: str, workdir: Path, database: str, year, seconds: float) -> None:
    """The year's other months, its quarters, the year, then its weeks."""
    total = seconds
    for month in (month for quarter in year.children() for month in quarter.children()):
        if month.key != MONTH:
            total += release_in_child(url, workdir, "month", month.key)[0]
    line(f"stats release the 12 months of {YEAR} {database}", f"{total:.1f} s")
    # Reads need only the months: measured before the quarters, which take much longer.
    reads(url, workdir, database, f"{YEAR}-01", f"{YEAR}-12")
    for quarter in year.children():
        seconds, peak = release_in_child(url, workdir, "quarter", quarter.key)
        total += seconds
        line(f"stats release quarter {quarter.key} {database}", f"{seconds:.1f} s",
             target=f"{peak:.0f} MB")
    seconds, peak = release_in_child(url, workdir, "year", YEAR)
    line(f"stats release year {YEAR} alone {database}", f"{seconds:.1f} s",
         target=f"{peak:.0f} MB")
    line(f"stats release year {YEAR} with its quarters and months {database}",
         f"{total + seconds:.1f} s")
    seconds, peak = release_in_child(url, workdir, "weeks", YEAR)
    line(f"stats release the weeks of {YEAR} {database}", f"{seconds:.1f} s",
         target=f"{peak:.0f} MB")


def run_postgres(workdir: Path) -> None:
    with scratch_postgres(PG_URL, "referral_bench_stats") as url:
        if url is None:
            print(f"stats postgresql  skipped: no PostgreSQL server answers at {PG_URL}")
            return
        run("postgresql", url, workdir)


def main() -> int:
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{CASES:,} cases, k = {K}")
    line("name", "measured", "baseline", "ratio", "target")
    with tempfile.TemporaryDirectory(prefix="referral-bench-") as tmp:
        workdir = Path(tmp)
        Keyring.create(workdir / "keyring.json")
        if "sqlite" in ONLY:
            run("sqlite", "sqlite:///" + str(workdir / "bench.sqlite3"), workdir)
        if "postgresql" in ONLY:
            run_postgres(workdir)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(*sys.argv[2:6])
        sys.exit(0)
    sys.exit(main())
