"""Concurrent writers still make one audit chain, on a SQLite file and on PostgreSQL."""

import threading
import uuid

import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent
from referral.services import audit

THREADS, APPENDS = 4, 50


def append_in_parallel(app, threads=THREADS, appends=APPENDS):
    start, errors = threading.Barrier(threads), []

    def writer(n):
        try:
            start.wait()
            for i in range(appends):
                with app.app_context():
                    audit.record(db.session, "case_read", object_type="case",
                                 object_id=uuid.uuid4(), detail={"writer": n, "i": i})
                    db.session.commit()
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


def test_concurrent_writers_make_one_chain_with_every_event(shared_app):
    append_in_parallel(shared_app)
    with shared_app.app_context():
        assert audit.verify(db.session) == audit.Verdict(True, THREADS * APPENDS)
        seqs = db.session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, THREADS * APPENDS + 1))


def test_concurrent_first_appends_create_the_head_once(shared_app):
    # No head row yet: every writer's first append races to create it.
    append_in_parallel(shared_app, threads=8, appends=1)
    with shared_app.app_context():
        assert audit.verify(db.session) == audit.Verdict(True, 8)
