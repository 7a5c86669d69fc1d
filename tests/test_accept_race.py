"""Many people answering one referral at once, against a real gunicorn server.

Two workers with four threads each, on a SQLite file and on PostgreSQL: however many
accepts (or accepts and declines) arrive together, exactly one wins, the others get 409,
and the referral, its follow-ups and the audit chain record one answer.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from referral import create_app
from referral.extensions import db
from referral.models import AuditEvent, FollowUp, Notification, Referral
from referral.services import audit
from referral.services.crypto import Keyring
from tests.conftest import scratch_database, test_config, token_for
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    UserFactory,
)

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
SECRET_KEY = "test-secret-key-not-for-production"
CALLS = 16
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite_file", "postgresql"])
def database(request, tmp_path_factory):
    """A database two server processes share: a SQLite file, or a scratch PostgreSQL one."""
    if request.param == "sqlite_file":
        yield f"sqlite:///{tmp_path_factory.mktemp('race')}/race.sqlite3"
        return
    with scratch_database(request.getfixturevalue("pg_url"), "race") as url:
        yield url


@pytest.fixture(scope="module")
def world(database, tmp_path_factory):
    """A post referred a GBV case to a clinic twice; two clinic staff hold tokens."""
    instance = tmp_path_factory.mktemp("instance")
    keyring = instance / "keyring.json"
    Keyring.create(keyring)
    app = create_app(test_config(database, keyring, INSTANCE_PATH=str(instance)))
    with app.app_context():
        db.create_all()
        post = BorderPostFactory()
        clinic = FacilityFactory(services=["primary_care", "gbv_care"])
        staff = [UserFactory(role="facility_staff", facility=clinic) for _ in range(2)]

        def pending():
            case = CaseFactory(facility=post, needs=["gbv"], vulnerabilities=["gbv_survivor"])
            return ReferralFactory(case=case, to_facility=clinic, urgency="routine").id

        ids = {"accept_race": pending(), "accept_or_decline_race": pending()}
        tokens = [(user.id, token_for(user)) for user in staff]
        db.session.commit()
    yield SimpleNamespace(app=app, database=database, keyring=keyring, instance=instance,
                          referral_ids=ids, tokens=tokens, clinic_id=clinic.id)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def server(world):
    """gunicorn, 2 workers x 4 threads, serving wsgi:app on a free port of 127.0.0.1."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("REFERRAL_")}
    env.update(REFERRAL_DATABASE_URL=world.database, REFERRAL_KEYRING=str(world.keyring),
               REFERRAL_SECRET_KEY=SECRET_KEY, REFERRAL_INSTANCE_PATH=str(world.instance))
    log_path = world.instance / "server.log"
    with open(log_path, "w+") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "--workers", "2", "--threads", "4", "--bind", "127.0.0.1:0",
             "--graceful-timeout", "5", "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            port = _wait_until_healthy(process, log_path)
            yield SimpleNamespace(port=port, log=lambda: log_path.read_text())
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(process: subprocess.Popen, log_path: Path, timeout=60) -> int:
    deadline = time.monotonic() + timeout
    port = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        if port is None and (found := LISTENING.search(log_path.read_text())):
            port = int(found[1])
        if port is not None:
            try:
                status, body = _call(port, "GET", "/healthz")
            except OSError:
                status = None
            if status == 200 and body == {"status": "ok"}:
                return port
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz in {timeout} s:\n{log_path.read_text()}")


def _call(port: int, method: str, path: str, *, token=None, body=None, connection=None):
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


def fire_together(port: int, calls: list[tuple[str, str, dict | None]]) -> list[tuple]:
    """Send every (path, token, body) POST at once; [(status, body)] in the same order."""
    start = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def send(index, path, token, body):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.connect()  # connected first, so only the requests are left to race
            start.wait(timeout=30)
            results[index] = _call(port, "POST", path, token=token, body=body,
                                   connection=connection)
        except Exception as exc:  # reported with the others, never lost in a thread
            results[index] = ("no answer", repr(exc))

    threads = [threading.Thread(target=send, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def is_conflict(result) -> bool:
    status, body = result
    return (status == 409 and isinstance(body, dict) and list(body) == ["error"]
            and body["error"]["code"] == "conflict"
            and isinstance(body["error"]["message"], str)
            and set(body["error"]) <= {"code", "message", "fields"})


def describe(results, server) -> str:
    """The statuses, every answer that was not a plain 409, and what the server logged."""
    odd = {i: result for i, result in enumerate(results) if not is_conflict(result)}
    return (f"statuses: {[status for status, _ in results]}\nother answers: {odd}\n"
            f"server log:\n{server.log()}")


def recorded(world, referral_id) -> SimpleNamespace:
    """What the database holds about one referral, read by the test process."""
    with world.app.app_context():
        session = db.session
        referral = session.get(Referral, referral_id)

        def events(action):
            return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.object_id == str(referral_id)))

        state = SimpleNamespace(
            status=referral.status, responded_by=referral.responded_by,
            status_reason=referral.status_reason,
            safety_checks=session.scalar(sa.select(sa.func.count()).select_from(FollowUp).where(
                FollowUp.referral_id == referral_id, FollowUp.kind == "safety_check")),
            accepted_events=events("referral_accepted"),
            declined_events=events("referral_declined"),
            declined_notices=session.scalar(
                sa.select(sa.func.count()).select_from(Notification).where(
                    Notification.referral_id == referral_id,
                    Notification.kind == "referral_declined")),
            chain=audit.verify(session),
        )
        session.remove()
    return state


def test_sixteen_accepts_at_once_accept_the_referral_once(world, server):
    referral_id = world.referral_ids["accept_race"]
    path = f"/api/v1/referrals/{referral_id}/accept"
    calls = [(path, world.tokens[i % 2][1], None) for i in range(CALLS)]
    results = fire_together(server.port, calls)

    report = describe(results, server)
    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1, report
    assert all(is_conflict(r) for i, r in enumerate(results) if i != winners[0]), report
    assert results[winners[0]][1]["status"] == "accepted"

    state = recorded(world, referral_id)
    assert state.status == "accepted"
    assert state.responded_by == world.tokens[winners[0] % 2][0]
    assert (state.safety_checks, state.accepted_events) == (1, 1), report
    assert state.chain.ok, state.chain


def test_accepts_and_declines_at_once_give_one_answer(world, server):
    referral_id = world.referral_ids["accept_or_decline_race"]
    base = f"/api/v1/referrals/{referral_id}"
    calls = [(f"{base}/accept", world.tokens[i % 2][1], None) if i % 4 < 2 else
             (f"{base}/decline", world.tokens[i % 2][1], {"reason_code": "no_capacity"})
             for i in range(CALLS)]
    results = fire_together(server.port, calls)

    report = describe(results, server)
    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1, report
    assert all(is_conflict(r) for i, r in enumerate(results) if i != winners[0]), report
    winner = winners[0]
    accepted = calls[winner][0].endswith("/accept")

    state = recorded(world, referral_id)
    assert results[winner][1]["status"] == state.status
    assert state.responded_by == world.tokens[winner % 2][0]
    if accepted:
        assert state.status == "accepted"
        assert (state.safety_checks, state.accepted_events, state.declined_events,
                state.declined_notices) == (1, 1, 0, 0), report
    else:
        assert (state.status, state.status_reason) == ("declined", "no_capacity")
        assert (state.safety_checks, state.accepted_events, state.declined_events,
                state.declined_notices) == (0, 0, 1, 1), report
    assert state.chain.ok, state.chain
