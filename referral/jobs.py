"""Scheduled jobs: thin wrappers over services (DESIGN.md: Follow-up policy and scheduled jobs).

Each job is `name(now) -> dict`: it runs inside an app context, calls its service with
`now`, commits and returns counts (never personal data). `build_scheduler` puts them on an
APScheduler; only `flask scheduler run` starts one (STYLE.md rule 9), never create_app.
Every job is idempotent and safe with two processes at once (the services guard by state).
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask, current_app

from referral.extensions import db

log = logging.getLogger(__name__)
SCRUB_ERASURES_SINCE = timedelta(days=2)  # the purge runs daily; a day's slack


def mark_overdue_follow_ups(now: datetime) -> dict:
    """Scheduled follow-ups due by `now` become overdue; their facilities are notified."""
    from referral.services import followups

    overdue = followups.mark_overdue(db.session, now=now)
    db.session.commit()
    return {"overdue": overdue}


def expire_referrals(now: datetime) -> dict:
    """Pending referrals past their expiry become expired; their senders are notified."""
    from referral.services import referrals

    expired = referrals.expire_stale(db.session, now=now)
    db.session.commit()
    return {"expired": expired}


def purge(now: datetime) -> dict:
    """Apply the retention policy, then scrub what it (or an erasure request) removed."""
    from referral.services import retention

    config = current_app.config
    counts = retention.purge(
        db.session, now=now, retention_days=config["RETENTION_DAYS"],
        notification_days=config["NOTIFICATION_DAYS"],
        login_window_seconds=config["LOGIN_WINDOW_SECONDS"],
        between_batches=db.session.commit)
    db.session.commit()
    _scrub(_tables_touched(counts, now))
    return counts


def stats_release(now: datetime) -> dict:
    """Release the statistics of every period that finished since the last run."""
    from referral.services import stats

    refused = []  # logged as warnings, with what the operator should run
    made = stats.release_all(db.session, now=now, k=current_app.config["SUPPRESSION_K"],
                             between=db.session.commit, refused=refused)
    db.session.commit()
    return {"released": len(made), "refused": len(refused)}


def verify_audit(now: datetime) -> dict:
    """Walk the audit chain; a break is logged as an ERROR naming the first bad event."""
    from referral.services import audit

    verdict = audit.verify(db.session, between_batches=db.session.commit)
    db.session.commit()
    if verdict.ok:
        return {"ok": True, "events": verdict.events}
    log.error("audit chain broken at event %s (seq %s): %s; %s events before it are intact",
              verdict.first_bad_event, verdict.first_bad_seq, verdict.reason, verdict.events)
    return {"ok": False, "events": verdict.events, "first_bad_event": verdict.first_bad_event,
            "first_bad_seq": verdict.first_bad_seq}


def _tables_touched(counts: dict, now: datetime) -> list[str]:
    from referral.models import Case, DataKey, FollowUp, Referral, Subject

    # Erasure requests answered since the last daily run are scrubbed with it too.
    erased = counts["subjects"] or db.session.scalar(sa.select(sa.exists().where(
        Subject.erased_at >= now - SCRUB_ERASURES_SINCE)))
    db.session.commit()
    tables = [model.__tablename__ for model in (Subject, DataKey, Case, Referral, FollowUp)
              if erased]
    return tables + [kind for kind in ("api_tokens", "login_failures", "notifications")
                     if counts[kind]]


def _scrub(tables: list[str]) -> None:
    """Make deleted and nulled values leave the database files, not just the rows.

    PostgreSQL keeps dead row versions until VACUUM; SQLite (secure_delete is on) still
    has the old pages in its write-ahead log until a checkpoint truncates it. The purge is
    committed already, so a failure here is only logged: the next run tries again."""
    engine = db.engine
    if not tables or engine.url.database in (None, "", ":memory:"):
        return
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM " + ", ".join(tables))
        elif engine.dialect.name == "sqlite":
            # On the DBAPI connection: the engine's BEGIN IMMEDIATE would make it fail.
            raw = engine.raw_connection()
            try:
                busy, _, _ = raw.driver_connection.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                raw.close()
            if busy:
                log.warning("purge: the write-ahead log was busy and is not truncated yet")
    except Exception as exc:  # best effort: the purge itself is committed
        log.warning("purge: cleaning %s failed (%s)", ", ".join(tables), type(exc).__name__)


@dataclass(frozen=True)
class Job:
    """A job function and its APScheduler trigger (`trigger` plus its keyword arguments)."""

    func: Callable[[datetime], dict]
    schedule: str  # for people: `flask jobs list`
    trigger: dict = field(default_factory=dict)
    misfire_grace_time: int = 60  # seconds late a run may still start


JOBS = {
    "mark_overdue_follow_ups": Job(mark_overdue_follow_ups, "every 5 minutes",
                                   {"trigger": "interval", "minutes": 5}, 120),
    "expire_referrals": Job(expire_referrals, "every 5 minutes",
                            {"trigger": "interval", "minutes": 5}, 120),
    "verify_audit": Job(verify_audit, "hourly", {"trigger": "interval", "hours": 1}, 1800),
    "purge": Job(purge, "daily at 03:15 UTC",
                 {"trigger": "cron", "hour": 3, "minute": 15, "timezone": UTC}, 3 * 3600),
    "stats_release": Job(stats_release, "daily at 00:30 UTC",
                         {"trigger": "cron", "hour": 0, "minute": 30, "timezone": UTC},
                         6 * 3600),
}


def summary(name: str, result: dict) -> str:
    """`name: key=value ...`, as the CLI prints it and the log records it."""
    def text(value):
        return str(value).lower() if isinstance(value, bool) else str(value)

    return f"{name}: " + " ".join(f"{key}={text(value)}" for key, value in result.items())


def run(name: str, now: datetime) -> dict:
    """Run one job once in the current app context, logging one line (counts, duration)."""
    started = time.monotonic()
    try:
        result = JOBS[name].func(now)
    except Exception as exc:
        db.session.rollback()
        # Only the class name: a driver's message can quote the statement's parameters.
        log.error("job %s failed after %.2fs (%s)", name, time.monotonic() - started,
                  type(exc).__name__)
        raise
    log.info("%s in %.2fs", summary(name, result), time.monotonic() - started)
    return result


def _scheduled(app: Flask, name: str) -> None:
    # Swallowed once run() logged it: APScheduler would log the message too, and a
    # driver's message can quote parameters. The next run tries again.
    with app.app_context(), contextlib.suppress(Exception):
        run(name, datetime.now(UTC))


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """An unstarted scheduler, running in a thread of its own, holding every job; each run
    gets its own app context."""
    scheduler = BackgroundScheduler(timezone=UTC)
    for name, job in JOBS.items():
        scheduler.add_job(_scheduled, args=(app, name), id=name, name=name,
                          coalesce=True, max_instances=1,
                          misfire_grace_time=job.misfire_grace_time, **job.trigger)
    return scheduler
