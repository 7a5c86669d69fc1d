import json

import sqlalchemy as sa

from referral.models import AuditEvent, Facility
from tests.factories import FacilityFactory

DIRECTORY = [
    {"code": "BP-SV-EL-AMATILLO", "name": "El Amatillo", "kind": "border_post", "country": "SV",
     "admin_area": "La Unión", "latitude": 13.594, "longitude": -87.755,
     "services": ["primary_care"], "languages": ["es"]},
    {"code": "SH-GT-TECUN-01", "name": "Albergue", "kind": "shelter", "country": "GT",
     "latitude": 14.676, "longitude": -92.145, "address": "4a calle 3-20",
     "services": ["shelter", "trafficking_protection"], "languages": ["es", "mam"],
     "capacity_total": 30, "capacity_available": 4, "confidential": True,
     "accepts": {"minors": False, "women_only": True, "trafficking_survivors": True}},
]


def run_import(app, tmp_path, items, name="directory.json"):
    path = tmp_path / name
    path.write_text(items if isinstance(items, str) else json.dumps(items), encoding="utf-8")
    return app.test_cli_runner().invoke(args=["facilities", "import", str(path)])


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_importing_the_same_file_twice_changes_nothing_the_second_time(app, tmp_path, session):
    first = run_import(app, tmp_path, DIRECTORY)
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "created 2, updated 0, unchanged 0"
    events_after_first = count(session, AuditEvent)
    stamps = dict(session.execute(sa.select(Facility.code, Facility.updated_at)).all())

    second = run_import(app, tmp_path, DIRECTORY)
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "created 0, updated 0, unchanged 2"
    assert count(session, Facility) == 2
    assert count(session, AuditEvent) == events_after_first
    assert dict(session.execute(sa.select(Facility.code, Facility.updated_at)).all()) == stamps


def test_import_makes_facilities_as_the_api_describes_them(app, tmp_path, session):
    assert run_import(app, tmp_path, DIRECTORY).exit_code == 0
    shelter = session.scalar(sa.select(Facility).where(Facility.code == "SH-GT-TECUN-01"))
    assert shelter.services == ["shelter", "trafficking_protection"]
    assert shelter.accepts == {"minors": False, "women_only": True, "trafficking_survivors": True}
    assert shelter.confidential and shelter.capacity_available == 4
    assert shelter.capacity_updated_at is not None
    (event,) = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.object_id == str(shelter.id)))
    assert event.action == "facility_created" and "4a calle" not in json.dumps(event.detail)


def test_an_existing_code_is_updated_not_duplicated(app, tmp_path, session):
    FacilityFactory(code="BP-SV-EL-AMATILLO", name="Old name", capacity_total=20,
                    capacity_available=5)
    result = run_import(app, tmp_path, DIRECTORY)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created 1, updated 1, unchanged 0"
    post = session.scalar(sa.select(Facility).where(Facility.code == "BP-SV-EL-AMATILLO"))
    assert post.name == "El Amatillo" and post.updated_at is not None
    # The file says nothing about capacity: the live figure staff reported stays.
    assert post.capacity_available == 5
    assert count(session, Facility) == 2
    (event,) = session.scalars(sa.select(AuditEvent).where(AuditEvent.action
                                                           == "facility_updated"))
    assert "name" in event.detail["fields"] and "Old name" not in json.dumps(event.detail)


def test_a_bad_item_is_reported_by_index_and_field_and_nothing_is_written(app, tmp_path,
                                                                          session):
    items = [DIRECTORY[0], dict(DIRECTORY[1], country="Guatemala")]
    result = run_import(app, tmp_path, items)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "index 1" in lines[0] and "country" in lines[0]
    assert count(session, Facility) == 0


def test_every_problem_is_counted_and_the_first_is_named(app, tmp_path, session):
    items = [dict(DIRECTORY[0], migration_status="x"), dict(DIRECTORY[1], latitude=123),
             dict(DIRECTORY[1], name="Otro")]
    result = run_import(app, tmp_path, items)
    assert result.exit_code != 0
    line = result.output.strip()
    assert "index 0, field migration_status" in line and "(and 2 more problems)" in line
    assert count(session, Facility) == 0


def test_a_code_repeated_in_the_file_is_refused(app, tmp_path, session):
    result = run_import(app, tmp_path, [DIRECTORY[0], dict(DIRECTORY[0], name="Duplicate")])
    assert result.exit_code != 0
    assert "index 1, field code" in result.output and "item 0" in result.output
    assert count(session, Facility) == 0


def test_capacity_above_its_total_is_refused(app, tmp_path, session):
    result = run_import(app, tmp_path, [dict(DIRECTORY[1], capacity_available=31)])
    assert result.exit_code != 0
    assert "index 0, field capacity_available" in result.output


def test_a_file_that_is_not_a_json_array_of_objects_is_refused(app, tmp_path, session):
    for content in ("{not json", json.dumps({"code": "X"}), json.dumps(["BP-SV-EL-AMATILLO"])):
        result = run_import(app, tmp_path, content)
        assert result.exit_code != 0, content
        assert len(result.output.strip().splitlines()) == 1
    missing = app.test_cli_runner().invoke(
        args=["facilities", "import", str(tmp_path / "nowhere.json")])
    assert missing.exit_code != 0 and "cannot read" in missing.output
    assert count(session, Facility) == 0
