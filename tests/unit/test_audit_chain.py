"""The hash chain: tampering with, or deleting, any event is found and named."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent, AuditHead
from referral.services import audit
from tests.factories import UserFactory

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

# A new value for every stored column of an event, as raw SQL would write it.
FORGERIES = {
    "at": "2001-02-03 04:05:06.000007",
    "actor": "mallory",
    "actor_id": uuid.UUID(int=7).hex,
    "action": "case_erased",
    "object_type": "facility",
    "object_id": "forged-object",
    "ip": "203.0.113.66",
    "detail": '{"forged": true}',
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}


def make_chain(n=5):
    """n committed events; returns their ids in seq order."""
    user = UserFactory()
    ids = [audit.record(db.session, "case_read", actor=user, object_type="case",
                        object_id=uuid.uuid4(), ip="198.51.100.7", detail={"n": i},
                        now=T0 + timedelta(minutes=i)).id for i in range(n)]
    db.session.commit()
    return ids


def raw(sql, **params):
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def test_a_clean_chain_verifies_with_its_event_count(app):
    make_chain(5)
    assert audit.verify(db.session) == audit.Verdict(True, 5)


def test_an_empty_log_verifies(app):
    assert audit.verify(db.session) == audit.Verdict(True, 0)


@pytest.mark.parametrize("seq", [1, 3, 5], ids=["first", "middle", "newest"])
@pytest.mark.parametrize("column", sorted(FORGERIES))
def test_altering_any_column_of_any_event_is_found_and_names_that_event(app, column, seq):
    ids = make_chain(5)
    raw(f"UPDATE audit_events SET {column} = :value WHERE seq = :seq",  # noqa: S608 - a constant
        value=FORGERIES[column], seq=seq)
    verdict = audit.verify(db.session)
    assert not verdict.ok
    assert (verdict.first_bad_event, verdict.first_bad_seq) == (ids[seq - 1], seq)
    assert verdict.events == seq - 1


def test_deleting_an_event_in_the_middle_names_the_event_after_the_gap(app):
    ids = make_chain(5)
    raw("DELETE FROM audit_events WHERE seq = 3")
    verdict = audit.verify(db.session)
    assert not verdict.ok
    assert (verdict.first_bad_event, verdict.first_bad_seq, verdict.events) == (ids[3], 3, 2)
    assert "missing" in verdict.reason


@pytest.mark.parametrize("deleted", [1, 2, 5])
def test_deleting_the_newest_events_is_found_because_the_head_disagrees(app, deleted):
    make_chain(5)
    raw("DELETE FROM audit_events WHERE seq > :keep", keep=5 - deleted)
    verdict = audit.verify(db.session)
    assert not verdict.ok
    assert verdict.first_bad_event is None  # nothing left to name: the seq says where
    assert (verdict.first_bad_seq, verdict.events) == (6 - deleted, 5 - deleted)
    assert "head records 5" in verdict.reason


def test_rewriting_the_newest_event_with_a_recomputed_hash_is_caught_by_the_head(app):
    ids = make_chain(3)
    row = db.session.execute(sa.select(AuditEvent.__table__).where(
        AuditEvent.seq == 3)).one()
    forged = SimpleNamespace(**{**row._asdict(), "action": "login"})
    raw("UPDATE audit_events SET action = 'login', hash = :hash WHERE seq = 3",
        hash=audit.event_hash(row.prev_hash, forged))
    verdict = audit.verify(db.session)
    assert not verdict.ok
    assert (verdict.first_bad_event, verdict.first_bad_seq) == (ids[2], 3)


def test_a_missing_head_with_events_left_is_a_broken_chain(app):
    make_chain(2)
    raw("DELETE FROM audit_head")
    verdict = audit.verify(db.session)
    assert not verdict.ok and "head is missing" in verdict.reason


def test_verify_walks_in_batches_and_finds_a_forgery_past_the_first_batch(app):
    ids = make_chain(7)
    pauses = []
    assert audit.verify(db.session, batch=2, between_batches=lambda: pauses.append(1)) \
        == audit.Verdict(True, 7)
    assert len(pauses) == 3  # after batches 1-2, 3-4, 5-6; the last (7) is short
    raw("UPDATE audit_events SET ip = '10.0.0.1' WHERE seq = 6")
    verdict = audit.verify(db.session, batch=2, between_batches=db.session.commit)
    assert (verdict.ok, verdict.first_bad_event) == (False, ids[5])


def test_events_appended_during_a_walk_are_left_for_the_next_walk(app):
    make_chain(4)

    def append_meanwhile():
        if db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 4:
            audit.record(db.session, "login_failed", now=T0)
            db.session.commit()

    assert audit.verify(db.session, batch=2, between_batches=append_meanwhile) \
        == audit.Verdict(True, 4)
    assert audit.verify(db.session) == audit.Verdict(True, 5)


def test_a_time_given_in_another_zone_still_verifies(app):
    audit.record(db.session, "login_failed", now=T0.astimezone(timezone(timedelta(hours=-6))))
    db.session.commit()
    event = db.session.scalar(sa.select(AuditEvent))
    assert event.at == T0
    assert audit.verify(db.session).ok


def test_two_sessions_appending_in_turn_keep_one_chain(app):
    audit.record(db.session, "login_failed", now=T0)
    seen = db.session.get(AuditHead, 1)  # held, so this session keeps its copy
    db.session.commit()  # and the copy is not expired on commit
    with app.app_context():
        audit.record(db.session, "login_failed", now=T0)
        db.session.commit()
    audit.record(db.session, "login_failed", now=T0)
    db.session.commit()
    assert audit.verify(db.session) == audit.Verdict(True, 3)
    assert seen.seq == 3


def test_cli_verify_exits_zero_and_prints_the_count_on_a_clean_chain(app):
    make_chain(3)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok: 3 events" in result.output


def test_cli_verify_exits_non_zero_with_one_line_naming_the_bad_event(app):
    ids = make_chain(3)
    raw("UPDATE audit_events SET object_id = 'x' WHERE seq = 2")
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--batch", "2"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(ids[1]) in lines[0]


def test_cli_verify_names_the_missing_seqs_when_the_newest_events_were_deleted(app):
    make_chain(3)
    raw("DELETE FROM audit_events WHERE seq = 3")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert "seq 3" in result.output and "missing" in result.output
