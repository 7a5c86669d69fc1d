"""Under gunicorn, a request that must first release a finished period is not cut short.

API.md: the first request for a finished period that has no release yet computes it. A
month of real size takes minutes, far past gunicorn's worker timeout (30 s by default).
With a sync worker the arbiter killed the worker mid-release: the manager got a broken
connection, the release was lost, and the next request started it over, so on a new or
restored deployment the dashboard never opened until the daily job had caught up.
"""

import http.client
import os
import subprocess
import time
from datetime import UTC, datetime

import pytest

from referral import create_app
from referral.extensions import db
from referral.models import StatsRelease
from referral.services import demo
from referral.services.crypto import Keyring
from referral.services.synthetic import finished_months
from tests.conftest import test_config, token_for
from tests.factories import UserFactory
from tests.test_accept_race import GUNICORN, ROOT, SECRET_KEY, _call, _wait_until_healthy

TIMEOUT_S = 3  # gunicorn's --timeout, below what the release takes; a threaded
# worker reports about once a second, so not 1
# The client waits for the answer however long the release takes (about 20 s here, and
# once over 60 s in CI, where the shared client's 60 s cut it short).
CLIENT_TIMEOUT_S = 600

pytestmark = pytest.mark.slow


def test_a_release_longer_than_the_worker_timeout_completes_and_is_stored(tmp_path):
    keyring = tmp_path / "keyring.json"
    Keyring.create(keyring)
    url = f"sqlite:///{tmp_path}/db.sqlite3"
    app = create_app(test_config(url, keyring))
    now = datetime.now(UTC)
    [(start, _end)] = finished_months(now, 1)
    with app.app_context():
        db.create_all()
        demo.import_directory(db.session, now)
        token = token_for(UserFactory(manager=True))
        db.session.commit()
        result = app.test_cli_runner().invoke(
            args=["synthetic", "--cases", "300", "--months", "1", "--seed", "3",
                  "--no-release"])
        assert result.exit_code == 0, result.output
        db.engine.dispose()

    env = {name: value for name, value in os.environ.items()
           if not name.startswith("REFERRAL_")}
    env.update(REFERRAL_DATABASE_URL=url, REFERRAL_KEYRING=str(keyring),
               REFERRAL_SECRET_KEY=SECRET_KEY, REFERRAL_INSTANCE_PATH=str(tmp_path))
    log_path = tmp_path / "server.log"
    with open(log_path, "w+") as log:
        # The project's gunicorn.conf.py is read from ROOT, as in production.
        process = subprocess.Popen(
            [str(GUNICORN), "--workers", "1", "--timeout", str(TIMEOUT_S),
             "--bind", "127.0.0.1:0", "--graceful-timeout", "5", "--no-control-socket",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            port = _wait_until_healthy(process, log_path)
            month = start.strftime("%Y-%m")
            began = time.monotonic()
            status, body = _call(
                port, "GET",
                f"/api/v1/stats?metric=cases&period=month&from={month}&to={month}",
                token=token, connection=http.client.HTTPConnection(  # however long it takes
                    "127.0.0.1", port, timeout=CLIENT_TIMEOUT_S))
            took = time.monotonic() - began
        finally:
            process.terminate()
            process.wait(timeout=30)
    server_log = log_path.read_text()

    assert status == 200, server_log
    assert "WORKER TIMEOUT" not in server_log
    # Meaningful only while the release outlasts the timeout well over.
    assert took > 2 * TIMEOUT_S, f"the release took {took:.1f} s: give it more cases"
    assert [row["period"] for row in body["totals"]] == [month]
    with app.app_context():
        assert db.session.query(StatsRelease).filter_by(period="month", period_key=month).count()
        db.engine.dispose()
