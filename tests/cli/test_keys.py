import os
import stat
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from referral.models import Case, DataKey, Subject
from referral.models.base import utcnow
from referral.services import crypto
from referral.services import keys as keys_service
from referral.services.crypto import Keyring
from tests.factories import CaseFactory, SubjectFactory

data_keys = DataKey.__table__


@pytest.fixture
def keyring_path(tmp_path):
    """A key ring of this test's own: rotation and retirement change it."""
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    return path


def keys(app, *args):
    return app.test_cli_runner().invoke(args=["keys", *args])


def make_subjects(session, count: int) -> dict:
    """`count` subjects with every kind of field, a case with notes for some; flush per 200."""
    expected = {}
    for n in range(count):
        subject = SubjectFactory.build(birth_date=date(1960, 1, 1) + timedelta(days=n),
                                       phone=f"+503 7{n:07d}")
        session.add(subject)
        expected[subject.id] = (subject.given_name, subject.family_name, subject.birth_date,
                                subject.phone)
        if n % 200 == 199:
            session.flush()
    for n, subject_id in enumerate(list(expected)[:5]):
        CaseFactory(subject=session.get(Subject, subject_id), notes=f"nota {n}")
    session.commit()
    return expected


def read_back(app, session) -> dict:
    """Every subject as a new process would read it: key ring and rows loaded afresh."""
    app.extensions.pop("referral.keyring", None)
    session.expunge_all()
    return {s.id: (s.given_name, s.family_name, s.birth_date, s.phone)
            for s in session.scalars(sa.select(Subject))}


def notes(session) -> set:
    return {case.notes for case in session.scalars(sa.select(Case))}


def interrupt_after(monkeypatch, batches: int):
    real, calls = keys_service.rewrap_batch, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) > batches:
            raise ConnectionError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(keys_service, "rewrap_batch", flaky)


def test_rotation_rewraps_every_data_key_and_every_field_reads_back(app, session,
                                                                   keyring_path):
    expected = make_subjects(session, 1000)
    old = Keyring.load(keyring_path).current
    result = keys(app, "rotate")
    assert result.exit_code == 0, result.output
    new = Keyring.load(keyring_path).current
    assert new != old and "rewrapped 1000 data keys" in result.output
    assert keys_service.counts_by_kek(session) == {new: 1000}
    assert session.scalar(sa.select(sa.func.count()).where(data_keys.c.rotated_at.is_(None))
                          .select_from(data_keys)) == 0
    # Nothing needs the old key any more: retire it, then read everything back.
    assert keys(app, "retire", old).exit_code == 0
    assert read_back(app, session) == expected
    assert notes(session) == {f"nota {n}" for n in range(5)}


def test_an_interrupted_rotation_resumes_without_losing_a_key(app, session, keyring_path,
                                                             monkeypatch):
    expected = make_subjects(session, 300)
    interrupt_after(monkeypatch, 3)
    stopped = keys(app, "rotate", "--batch-size", "50")
    assert stopped.exit_code != 0 and "--resume" in stopped.output
    new = Keyring.load(keyring_path).current
    counts = keys_service.counts_by_kek(session)
    assert counts[new] == 150 and sum(counts.values()) == 300

    # Plain `rotate` finishes the unfinished work instead of stacking another key.
    interrupt_after(monkeypatch, 2)
    again = keys(app, "rotate", "--batch-size", "50")
    assert again.exit_code != 0 and "unfinished" in again.output
    assert Keyring.load(keyring_path).current == new
    assert len(Keyring.load(keyring_path).keks) == 2

    monkeypatch.undo()
    done = keys(app, "rotate", "--resume")
    assert done.exit_code == 0, done.output
    assert keys_service.counts_by_kek(session) == {new: 300}
    assert read_back(app, session) == expected
    assert "nothing to resume" in keys(app, "rotate", "--resume").output
    assert len(Keyring.load(keyring_path).keks) == 2


def test_a_data_key_rewrapped_meanwhile_by_another_process_is_not_overwritten(
        app, session, keyring_path, monkeypatch):
    subject = SubjectFactory()
    session.commit()
    ring = crypto.keyring()
    target, other = ring.add_kek(), ring.add_kek()
    real_unwrap = ring.unwrap

    def unwrap_while_another_rotates(kek_id, wrapped, owner):
        dek = real_unwrap(kek_id, wrapped, owner)
        _, theirs = ring.wrap(dek, owner, kek_id=other)
        session.execute(sa.update(data_keys).values(kek_id=other, wrapped=theirs))
        return dek

    monkeypatch.setattr(ring, "unwrap", unwrap_while_another_rotates)
    batch = keys_service.rewrap_batch(session, ring, target, None, now=utcnow())
    assert (batch.rewrapped, batch.changed) == (0, 1)
    assert keys_service.counts_by_kek(session) == {other: 1}
    monkeypatch.undo()
    assert read_back(app, session)[subject.id][0] == subject.given_name


def test_status_counts_data_keys_per_key_and_flags_retirable_ones(app, session,
                                                                  keyring_path):
    make_subjects(session, 3)
    ring = crypto.keyring()
    first = ring.current
    unused = ring.add_kek()
    current = ring.add_kek()
    for _ in range(2):
        SubjectFactory()
    session.commit()
    result = keys(app, "status")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:]}
    assert lines[current][0] == "yes" and lines[current][-1] == "2"
    assert lines[first][-1] == "3"
    assert lines[unused][-2:] == ["0", "retirable"]


def test_status_fails_when_data_keys_name_a_key_missing_from_the_ring(app, session):
    make_subjects(session, 2)
    session.execute(sa.update(data_keys).values(kek_id="kek-lost"))
    session.commit()
    result = keys(app, "status")
    assert result.exit_code != 0
    assert "kek-lost" in result.output and "MISSING" in result.output


def test_init_creates_a_private_key_ring_and_refuses_to_overwrite_it(app, tmp_path):
    path = tmp_path / "new" / "keyring.json"
    app.config["KEYRING"] = str(path)
    result = keys(app, "init")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()
    Keyring.load(path)
    again = keys(app, "init")
    assert again.exit_code != 0
    assert "already exists" in again.output and len(again.output.strip().splitlines()) == 1
    assert path.read_bytes() == before


def test_retire_refuses_the_current_key_and_one_still_wrapping_data_keys(app, session,
                                                                        keyring_path):
    make_subjects(session, 4)
    ring = crypto.keyring()
    old = ring.current
    current = ring.add_kek()
    before = keyring_path.read_bytes()
    for kek_id, why in ((current, "current key"), (old, "still wraps 4 data keys"),
                        ("kek-nonexistent", "not in the key ring")):
        result = keys(app, "retire", kek_id)
        assert result.exit_code != 0 and why in result.output
    assert keyring_path.read_bytes() == before

    assert keys(app, "rotate", "--resume").exit_code == 0
    with ring.rotating():  # as if another rotation were still moving keys
        busy = keys(app, "retire", old)
    assert busy.exit_code != 0 and "rotation is running" in busy.output
    assert keys(app, "retire", old).exit_code == 0
    assert old not in Keyring.load(keyring_path).keks
    assert stat.S_IMODE(os.stat(keyring_path).st_mode) == 0o600
    assert len(read_back(app, session)) == 4


@pytest.mark.parametrize(("damage", "message"), [
    (lambda path: path.chmod(0o644), "readable by others"),
    (lambda path: path.write_text("{not json"), "malformed"),
    (lambda path: path.unlink(), "keys init"),
])
def test_commands_refuse_a_broken_key_ring_in_one_line(app, keyring_path, damage, message):
    damage(keyring_path)
    app.extensions.pop("referral.keyring", None)
    for command in (("status",), ("rotate",), ("retire", "kek-x")):
        result = keys(app, *command)
        assert result.exit_code != 0
        assert message in result.output and len(result.output.strip().splitlines()) == 1
