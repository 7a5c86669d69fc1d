"""gunicorn settings, read from the folder gunicorn starts in.

DESIGN.md: the web process runs no scheduled job unless REFERRAL_RUN_SCHEDULER is set.
Workers never run one (each worker would run every job: STYLE.md rule 9). When it is set,
gunicorn's master starts one `flask scheduler run` process beside the workers, for a
single-server deployment, and stops it when gunicorn stops. A region with several servers
leaves it off and runs `flask scheduler run` once, on its own.
"""

import subprocess
import sys

# Threaded workers. gunicorn kills a worker that has not reported to the master for
# `timeout` seconds (30 by default). A sync worker cannot report while it serves a request,
# so it was killed in the middle of any request that ran longer, such as the first
# `GET /stats` for a finished period with no release yet (API.md: that request computes
# it, which for a month of a busy region takes minutes). That lost the release and
# started it over on every visit. A threaded worker reports from its main thread while
# its other threads serve, so the timeout bounds a hung worker, not a long request.
# `--threads` and `--worker-class` on the command line still override these.
worker_class = "gthread"
threads = 4

_scheduler: subprocess.Popen | None = None


def when_ready(server):
    """After the master is listening: the scheduler process, if the setting asks for it."""
    global _scheduler
    from referral import create_app

    if not create_app().config["RUN_SCHEDULER"]:
        return
    _scheduler = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "referral", "scheduler", "run"])
    server.log.info("REFERRAL_RUN_SCHEDULER is on: scheduler process %s started",
                    _scheduler.pid)


def on_exit(server):
    """gunicorn is stopping: so does the scheduler (SIGTERM lets a running job finish)."""
    if _scheduler is None or _scheduler.poll() is not None:
        return
    _scheduler.terminate()
    try:
        _scheduler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _scheduler.kill()
