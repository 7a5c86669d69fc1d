"""`flask scheduler run`, `flask jobs run NAME [--now ISO8601]`, `flask jobs list`."""

import logging
import os
import signal
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from referral import jobs
from referral.cli import fail
from referral.services import crypto

scheduler_group = AppGroup("scheduler", help="Run the scheduled jobs.")
jobs_group = AppGroup("jobs", help="Run or list the scheduled jobs one at a time.")
groups = (scheduler_group, jobs_group)


def _require_keyring(doing: str) -> None:
    # Jobs may seal or open fields; better to refuse now than to fail at 03:15.
    try:
        crypto.keyring()
    except crypto.KeyringError as exc:
        fail(f"refusing to {doing}: {exc}")


def _log_to_stderr() -> None:
    """One line per job run on stderr, unless the operator configured logging already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("referral").setLevel(logging.INFO)
    # APScheduler's own INFO lines repeat ours; its warnings (missed runs) still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@scheduler_group.command("run")
def scheduler_run():
    """Run every scheduled job in this process until SIGINT or SIGTERM."""
    _require_keyring("start the scheduler")
    _log_to_stderr()
    stopping = (signal.SIGINT, signal.SIGTERM)
    # The handler does nothing: Python writes the signal's number to the wake-up pipe,
    # whichever thread the kernel gave it to (numerical libraries start threads of their
    # own, which block nothing), and this thread reads it. A handler that printed or
    # stopped the scheduler could cut into a print or a held lock and lose the signal.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    try:
        for sig in stopping:
            signal.signal(sig, lambda signum, frame: None)
        scheduler = jobs.build_scheduler(current_app._get_current_object())
        scheduler.start()
        click.echo(f"scheduler running {len(jobs.JOBS)} jobs ({', '.join(jobs.JOBS)}); "
                   "stop with Ctrl-C or SIGTERM")
        while (received := os.read(wake_read, 1)[0]) not in stopping:
            pass  # another signal with a handler (none today)
        for sig in stopping:
            signal.signal(sig, signal.SIG_DFL)  # a second signal stops at once
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_read)
        os.close(wake_write)
    click.echo(f"{signal.Signals(received).name} received: stopping once running jobs end")
    scheduler.shutdown(wait=True)  # a running job finishes its transaction
    click.echo("scheduler stopped")


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now is not an ISO 8601 date and time: {value!r}")
    if parsed.tzinfo is None:
        fail(f"--now needs a time zone, e.g. {value}Z or {value}-06:00")
    return parsed.astimezone(UTC)


@jobs_group.command("run")
@click.argument("name")
@click.option("--now", metavar="ISO8601",
              help="Run as of this moment (with a zone: 2026-11-22T03:15:00Z); "
                   "default: the clock.")
def jobs_run(name, now):
    """Run one job once and print its counts as `name: key=value ...`."""
    if name not in jobs.JOBS:
        fail(f"unknown job {name!r}; jobs: {', '.join(jobs.JOBS)}")
    now = _parse_now(now)
    _require_keyring(f"run {name}")
    try:
        result = jobs.run(name, now)
    except Exception as exc:
        fail(f"{name} failed ({type(exc).__name__}); it is safe to run again")
    click.echo(jobs.summary(name, result))
    if result.get("ok") is False:
        fail(f"{name} found a problem; see the line above")


@jobs_group.command("list")
def jobs_list():
    """Every job and when the scheduler runs it."""
    width = max(map(len, jobs.JOBS))
    for name, job in jobs.JOBS.items():
        click.echo(f"{name:<{width}}  {job.schedule}")
