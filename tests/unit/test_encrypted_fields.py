from datetime import date

import pytest
import sqlalchemy as sa

from referral.models import Case, DataKey, Subject
from referral.services.crypto import DecryptionError
from tests.factories import CaseFactory, SubjectFactory

subjects = Subject.__table__


def fresh(session, model, id_):
    """The row as another request would see it: nothing cached from this session."""
    session.commit()
    session.expunge_all()
    return session.get(model, id_)


def stored(session, column: str, subject_id) -> bytes:
    return session.scalar(sa.select(subjects.c[column]).where(subjects.c.id == subject_id))


def overwrite(session, subject_id, **columns):
    session.execute(sa.update(subjects).where(subjects.c.id == subject_id).values(**columns))


def test_values_of_each_kind_read_back_with_their_type(session):
    subject = SubjectFactory(given_name="Ana Lucía", birth_date=date(1990, 4, 17),
                             birth_year=1990, age_estimate=34, phone="+503 7012 3456")
    back = fresh(session, Subject, subject.id)
    assert back.given_name == "Ana Lucía"
    assert back.birth_date == date(1990, 4, 17) and isinstance(back.birth_date, date)
    assert back.birth_year == 1990 and back.age_estimate == 34
    assert back.phone == "+503 7012 3456"


def test_the_database_holds_ciphertext_not_the_value(session):
    subject = SubjectFactory(given_name="Maricruz")
    session.flush()
    blob = stored(session, "given_name", subject.id)
    assert blob and b"Maricruz" not in blob


def test_a_name_copied_into_another_persons_row_does_not_open(session):
    ana, other = SubjectFactory(given_name="Ana"), SubjectFactory(given_name="Rosa")
    session.flush()
    overwrite(session, other.id, given_name=stored(session, "given_name", ana.id))
    moved = fresh(session, Subject, other.id)
    with pytest.raises(DecryptionError):
        _ = moved.given_name


def test_a_name_copied_into_another_column_of_the_same_row_does_not_open(session):
    ana = SubjectFactory(given_name="Ana", family_name="Pérez")
    session.flush()
    overwrite(session, ana.id, family_name=stored(session, "given_name", ana.id))
    moved = fresh(session, Subject, ana.id)
    assert moved.given_name == "Ana"
    with pytest.raises(DecryptionError):
        _ = moved.family_name


def test_case_notes_copied_into_another_case_do_not_open(session):
    first, second = CaseFactory(notes="Fiebre alta"), CaseFactory(notes="Tos")
    session.flush()
    cases = Case.__table__
    blob = session.scalar(sa.select(cases.c.notes).where(cases.c.id == first.id))
    session.execute(sa.update(cases).where(cases.c.id == second.id).values(notes=blob))
    moved = fresh(session, Case, second.id)
    with pytest.raises(DecryptionError):
        _ = moved.notes


def test_a_subject_whose_data_key_is_deleted_reads_as_empty(session):
    subject = CaseFactory(notes="Refiere violencia en el trayecto").subject
    subject.phone = "+503 7012 3456"
    session.flush()
    session.execute(sa.delete(DataKey.__table__).where(DataKey.subject_id == subject.id))
    erased = fresh(session, Subject, subject.id)
    assert stored(session, "given_name", subject.id)  # the bytes may linger ...
    assert erased.given_name is None and erased.phone is None  # ... but open to nothing
    case = session.scalar(sa.select(Case).where(Case.subject_id == subject.id))
    assert case.notes is None


def test_a_value_of_the_wrong_kind_is_refused(session):
    subject = SubjectFactory()
    with pytest.raises(TypeError):
        subject.birth_date = "1990-04-17"
    with pytest.raises(TypeError):
        subject.birth_year = "1990"


def test_clearing_a_field_stores_null(session):
    subject = SubjectFactory(phone="+503 7012 3456")
    session.flush()
    subject.phone = None
    back = fresh(session, Subject, subject.id)
    assert back.phone is None and stored(session, "phone", subject.id) is None
