"""Proof that personal data is encrypted at rest: read the SQLite file's raw bytes."""

import base64
import json
from datetime import date

import pytest
import sqlalchemy as sa

from referral import create_app
from referral.extensions import db
from referral.models import FollowUp, Subject
from referral.models.base import utcnow
from tests.factories import CaseFactory, ReferralFactory, SubjectFactory

PEOPLE = [
    {"given_name": "Xiomara Anacleta", "family_name": "Quetzaltepeque Ñañez",
     "birth_date": date(1987, 3, 29), "phone": "+503 7731 9462",
     "notes": "Sobreviviente de trata, refiere amenazas en Tapachula",
     "reason": "Acompañamiento psicosocial urgente Huehuetenango",
     "completion_notes": "Profilaxis posexposición administrada Cuilapa",
     "follow_up_notes": "Llamar a la hermana Rigoberta antes del viernes"},
    {"given_name": "Wendolyn", "family_name": "Zacatecoluca Iñiguez",
     "birth_date": date(2011, 11, 5), "phone": "+504 9288 1735",
     "notes": "Menor no acompañada, fractura de muñeca izquierda",
     "reason": "Inmovilización y radiografía Chinandega",
     "completion_notes": "Yeso colocado, control Retalhuleu",
     "follow_up_notes": "Verificar albergue Esquipulas"},
]


def forms(value) -> set[bytes]:
    """Ways a value could sit in a file: UTF-8, JSON-escaped, UTF-16, digits, base64."""
    text = value.isoformat() if isinstance(value, date) else value
    found = {text.encode(), json.dumps(text).encode(), text.encode("utf-16-le"),
             base64.b64encode(text.encode())}
    for word in text.split():
        if len(word) >= 6:
            found.add(word.encode())
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 8:
        found.add(digits.encode())
    return found


@pytest.fixture
def file_app(tmp_path, keyring_path):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "KEYRING": str(keyring_path),
    })
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_personal_values_never_reach_the_database_file_or_its_wal(file_app, tmp_path,
                                                                   keyring_path):
    pseudonyms = []
    for person in PEOPLE:
        subject = SubjectFactory(given_name=person["given_name"],
                                 family_name=person["family_name"],
                                 birth_date=person["birth_date"], phone=person["phone"])
        case = CaseFactory(subject=subject, notes=person["notes"])
        ReferralFactory(case=case, status="completed", reason=person["reason"],
                        completion_notes=person["completion_notes"])
        db.session.add(FollowUp(case=case, assigned_facility_id=case.facility_id,
                                kind="contact", due_at=utcnow(),
                                notes=person["follow_up_notes"]))
        pseudonyms.append(subject.pseudonym)
    db.session.commit()

    # Read while the connection is open: closing it would checkpoint and remove the WAL.
    raw = (tmp_path / "x.sqlite3").read_bytes()
    wal = (tmp_path / "x.sqlite3-wal").read_bytes()
    assert wal, "the commit should sit in the WAL"
    # The reader sees the committed rows: the plain pseudonyms are there.
    assert all(code.encode() in raw + wal for code in pseudonyms)
    leaks = [(field, name) for person in PEOPLE for field, value in person.items()
             for form in forms(value) for name, blob in (("file", raw), ("WAL", wal))
             if form in blob]
    assert leaks == []
    # Nor are the key ring's keys anywhere in the database.
    ring = json.loads(keyring_path.read_text())
    secrets = [base64.b64decode(item["key"]) for item in ring["keks"]]
    secrets.append(base64.b64decode(ring["index_key"]))
    assert not any(secret in raw or secret in wal for secret in secrets)

    db.session.expunge_all()
    assert {s.given_name for s in db.session.scalars(sa.select(Subject))} == {
        p["given_name"] for p in PEOPLE}


def test_the_sqlite_connection_is_durable_and_overwrites_deleted_bytes(file_app):
    pragma = lambda name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("secure_delete") == 1
    assert pragma("foreign_keys") == 1
