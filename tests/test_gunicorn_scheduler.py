"""REFERRAL_RUN_SCHEDULER under gunicorn: one scheduler process beside the workers, or none."""

import os
import re
import subprocess
import time

import pytest

from referral import create_app
from referral.extensions import db
from referral.services.crypto import Keyring
from tests.conftest import test_config
from tests.test_accept_race import GUNICORN, ROOT, SECRET_KEY, _wait_until_healthy

STARTED = re.compile(r"scheduler process (\d+) started")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited already
        return stat.read().split()[2] != "Z"


def serve(tmp_path, **env_extra):
    """Start gunicorn (2 workers) on a fresh SQLite file; returns (process, log path)."""
    keyring = tmp_path / "keyring.json"
    Keyring.create(keyring)
    url = f"sqlite:///{tmp_path}/db.sqlite3"
    app = create_app(test_config(url, keyring))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("REFERRAL_")}
    env.update(REFERRAL_DATABASE_URL=url, REFERRAL_KEYRING=str(keyring),
               REFERRAL_SECRET_KEY=SECRET_KEY, REFERRAL_INSTANCE_PATH=str(tmp_path),
               **env_extra)
    log_path = tmp_path / "server.log"
    log = open(log_path, "w+")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen(
        [str(GUNICORN), "--workers", "2", "--bind", "127.0.0.1:0", "--graceful-timeout", "5",
         "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_file = log
    return process, log_path


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    finally:
        process.log_file.close()


def test_the_setting_on_runs_one_scheduler_process_that_stops_with_gunicorn(tmp_path):
    process, log_path = serve(tmp_path, REFERRAL_RUN_SCHEDULER="1")
    try:
        _wait_until_healthy(process, log_path)
        deadline = time.monotonic() + 30
        while "scheduler running" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        [pid] = STARTED.findall(log_path.read_text())
        assert alive(int(pid))
    finally:
        stop(process)
    assert not alive(int(pid)), log_path.read_text()


def test_the_web_process_runs_no_scheduler_by_default(tmp_path):
    process, log_path = serve(tmp_path)
    try:
        _wait_until_healthy(process, log_path)
        time.sleep(1)
        assert not STARTED.search(log_path.read_text())
        assert "scheduler running" not in log_path.read_text()
    finally:
        stop(process)


pytestmark = pytest.mark.slow
