from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.models import AuditEvent
from referral.schemas.facility import FacilityOut
from tests.factories import BorderPostFactory, FacilityFactory, UserFactory

API = "/api/v1/facilities"
KEYS = {"id", "code", "name", "kind", "country", "admin_area", "address", "latitude",
        "longitude", "timezone", "services", "languages", "capacity_total",
        "capacity_available", "capacity_updated_at", "accepts", "confidential", "active"}


def new_facility(**changes):
    body = {
        "code": "SH-GT-TECUN-01", "name": "Casa del Migrante", "kind": "shelter",
        "country": "GT", "admin_area": "San Marcos", "address": "4a calle 3-20, zona 1",
        "latitude": 14.676, "longitude": -92.145, "timezone": "America/Guatemala",
        "services": ["shelter", "gbv_care"], "languages": ["es", "mam", "quc"],
        "capacity_total": 40, "capacity_available": 12,
        "accepts": {"minors": False, "women_only": True, "trafficking_survivors": True},
        "confidential": False, "active": True,
    }
    body.update(changes)
    return body


def events(session, action):
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_any_role_reads_a_facility_in_the_shape_of_the_contract(client, headers_for):
    facility = FacilityFactory(services=["primary_care", "hiv_sti"], languages=["es", "ht"])
    for user in (UserFactory(), UserFactory(staff=True), UserFactory(manager=True),
                 UserFactory(admin=True)):
        response = client.get(f"{API}/{facility.id}", headers=headers_for(user))
        assert response.status_code == 200, user.role
        body = response.get_json()
        assert set(body) == KEYS
        assert body["code"] == facility.code and body["services"] == ["hiv_sti", "primary_care"]
        assert body["accepts"] == {"minors": True, "women_only": False,
                                   "trafficking_survivors": False}


def test_reading_the_directory_needs_credentials(client):
    facility = FacilityFactory()
    assert client.get(API).status_code == 401
    response = client.get(f"{API}/{facility.id}")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_an_unknown_or_malformed_id_is_not_found(client, headers_for):
    headers = headers_for(UserFactory(manager=True))
    for path in (f"{API}/9b2f4c4e-1111-4d5e-8f00-000000000000", f"{API}/not-a-uuid"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_the_list_is_paginated_by_name(client, headers_for):
    for name in ("Clínica C", "Clínica A", "Clínica B"):
        FacilityFactory(name=name)
    headers = headers_for(UserFactory(admin=True))
    first = client.get(f"{API}?per_page=2", headers=headers).get_json()
    second = client.get(f"{API}?per_page=2&page=2", headers=headers).get_json()
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 3)
    assert [f["name"] for f in first["items"]] == ["Clínica A", "Clínica B"]
    assert [f["name"] for f in second["items"]] == ["Clínica C"]
    assert client.get(f"{API}?per_page=201", headers=headers).status_code == 422


def test_the_list_filters_by_kind_country_and_service(client, headers_for):
    clinic = FacilityFactory(country="SV", services=["primary_care"])
    hospital = FacilityFactory(kind="hospital", country="GT", services=["emergency_care"])
    shelter = FacilityFactory(kind="shelter", country="GT", services=["shelter", "gbv_care"])
    headers = headers_for(UserFactory(manager=True))

    def codes(query):
        response = client.get(f"{API}?{query}", headers=headers)
        assert response.status_code == 200
        return {f["code"] for f in response.get_json()["items"]}

    assert codes("kind=hospital") == {hospital.code}
    assert codes("country=GT") == {hospital.code, shelter.code}
    assert codes("service=gbv_care") == {shelter.code}
    assert codes("country=GT&service=emergency_care") == {hospital.code}
    assert codes("") == {clinic.code, hospital.code, shelter.code}
    closed = FacilityFactory(active=False)
    assert codes("active=false") == {closed.code}
    assert codes("country=sv&active=true") == {clinic.code}
    refused = client.get(f"{API}?kind=pharmacy", headers=headers)
    assert refused.status_code == 422 and "kind" in refused.get_json()["error"]["fields"]


def test_an_admin_adds_a_facility_and_the_audit_names_fields_not_values(client, headers_for,
                                                                        session):
    admin = UserFactory(admin=True)
    response = client.post(API, json=new_facility(), headers=headers_for(admin))
    assert response.status_code == 201
    body = response.get_json()
    assert body["code"] == "SH-GT-TECUN-01" and body["languages"] == ["es", "mam", "quc"]
    assert body["services"] == ["gbv_care", "shelter"]
    assert body["capacity_updated_at"].endswith("Z")
    assert body["accepts"]["women_only"] is True
    shown = client.get(f"{API}/{body['id']}", headers=headers_for(UserFactory()))
    assert shown.get_json()["name"] == "Casa del Migrante"
    (event,) = events(session, "facility_created")
    assert event.object_type == "facility" and event.object_id == body["id"]
    assert event.actor == admin.username
    assert "capacity_available" in event.detail["fields"]
    assert "Casa del Migrante" not in str(event.detail) and "4a calle" not in str(event.detail)


def test_a_facility_needs_only_code_name_kind_and_country(client, headers_for):
    body = {"code": "MU-HN-CHOLUTECA-1", "name": "Unidad móvil", "kind": "mobile_unit",
            "country": "HN"}
    response = client.post(API, json=body, headers=headers_for(UserFactory(admin=True)))
    assert response.status_code == 201
    created = response.get_json()
    assert created["services"] == [] and created["active"] is True
    assert created["capacity_available"] is None and created["capacity_updated_at"] is None
    missing = client.post(API, json={"name": "Sin código"},
                          headers=headers_for(UserFactory(admin=True)))
    assert missing.status_code == 422
    assert {"code", "kind", "country"} <= set(missing.get_json()["error"]["fields"])


@pytest.mark.parametrize("traits", [{}, {"staff": True}, {"manager": True}])
def test_only_admins_create_or_change_facilities(client, headers_for, traits):
    facility = FacilityFactory()
    headers = headers_for(UserFactory(**traits))
    created = client.post(API, json=new_facility(), headers=headers)
    changed = client.patch(f"{API}/{facility.id}", json={"name": "Otro"}, headers=headers)
    assert created.status_code == changed.status_code == 403
    assert created.get_json()["error"]["code"] == "forbidden"
    # The role is checked before the body: no validation hints for a role that may not post.
    assert client.post(API, json={"bogus": 1}, headers=headers).status_code == 403
    assert client.post(API, json=new_facility()).status_code == 401


def test_a_code_already_in_the_directory_is_refused(client, headers_for):
    FacilityFactory(code="SH-GT-TECUN-01")
    response = client.post(API, json=new_facility(), headers=headers_for(UserFactory(admin=True)))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and list(error["fields"]) == ["code"]


@pytest.mark.parametrize("field, value", [
    ("kind", "pharmacy"),
    ("services", ["dentistry"]),
    ("country", "SLV"),
    ("country", "El Salvador"),
    ("languages", ["spanish"]),
    ("languages", ["e5"]),
    ("latitude", 90.5),
    ("longitude", -180.5),
    ("capacity_total", -1),
    ("capacity_available", 41),
    ("code", "bp sv amatillo"),
    ("timezone", "Mars/Olympus"),
    ("migration_status", "irregular"),
    ("passport_number", "X123"),
])
def test_invalid_facility_fields_are_refused_by_name(client, headers_for, field, value):
    response = client.post(API, json=new_facility(**{field: value}),
                           headers=headers_for(UserFactory(admin=True)))
    assert response.status_code == 422
    assert field in {name.split(".")[0] for name in response.get_json()["error"]["fields"]}


def test_latitude_and_longitude_go_together(client, headers_for):
    response = client.post(API, json=new_facility(longitude=None),
                           headers=headers_for(UserFactory(admin=True)))
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["longitude"]


def test_a_patch_changes_only_the_fields_it_names(client, headers_for, session):
    facility = FacilityFactory(name="Clínica vieja", languages=["es"])
    headers = headers_for(UserFactory(admin=True))
    response = client.patch(f"{API}/{facility.id}", headers=headers, json={
        "name": "Clínica nueva", "languages": ["es", "kek"], "accepts": {"minors": False}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Clínica nueva" and body["languages"] == ["es", "kek"]
    assert body["accepts"] == {"minors": False, "women_only": False,
                               "trafficking_survivors": False}
    assert body["code"] == facility.code and body["services"] == ["gbv_care", "primary_care"]
    (event,) = events(session, "facility_updated")
    assert event.detail == {"fields": ["accepts.minors", "languages", "name"]}
    again = client.patch(f"{API}/{facility.id}", headers=headers, json={"name": "Clínica nueva"})
    assert again.status_code == 200 and len(events(session, "facility_updated")) == 1


def test_a_patch_may_not_take_another_facilitys_code_or_break_capacity(client, headers_for):
    taken = FacilityFactory()
    facility = FacilityFactory(capacity_total=20, capacity_available=5)
    headers = headers_for(UserFactory(admin=True))
    clash = client.patch(f"{API}/{facility.id}", json={"code": taken.code}, headers=headers)
    assert clash.status_code == 422 and list(clash.get_json()["error"]["fields"]) == ["code"]
    shrink = client.patch(f"{API}/{facility.id}", json={"capacity_total": 4}, headers=headers)
    assert shrink.status_code == 422
    assert list(shrink.get_json()["error"]["fields"]) == ["capacity_total"]
    unknown = client.patch(f"{API}/{facility.id}", json={"visa_type": "T"}, headers=headers)
    assert unknown.status_code == 422
    missing = client.patch(f"{API}/6f1c0e59-0000-4000-8000-000000000000", json={"name": "X"},
                           headers=headers)
    assert missing.status_code == 404


def test_own_staff_report_capacity_and_the_time_moves(client, headers_for, session):
    facility = FacilityFactory(capacity_total=20, capacity_available=5)
    for user in (UserFactory(staff=True, facility=facility), UserFactory(facility=facility),
                 UserFactory(admin=True)):
        response = client.patch(f"{API}/{facility.id}/capacity", headers=headers_for(user),
                                json={"capacity_available": 7})
        assert response.status_code == 200, user.role
        body = response.get_json()
        assert body["capacity_available"] == 7
        reported = datetime.fromisoformat(body["capacity_updated_at"].replace("Z", "+00:00"))
        assert abs(reported - datetime.now(UTC)) < timedelta(minutes=1)
    audited = events(session, "facility_capacity_set")
    assert [e.detail["fields"] for e in audited] == [
        ["capacity_available", "capacity_updated_at"], ["capacity_updated_at"],
        ["capacity_updated_at"]]


def test_capacity_of_another_facility_is_forbidden(client, headers_for):
    facility = FacilityFactory(capacity_available=5)
    other = FacilityFactory()
    for user in (UserFactory(staff=True, facility=other), UserFactory(), UserFactory(manager=True)):
        response = client.patch(f"{API}/{facility.id}/capacity", headers=headers_for(user),
                                json={"capacity_available": 0})
        assert response.status_code == 403, user.role
    assert client.patch(f"{API}/{facility.id}/capacity",
                        json={"capacity_available": 0}).status_code == 401
    assert client.get(f"{API}/{facility.id}", headers=headers_for(UserFactory(admin=True))
                      ).get_json()["capacity_available"] == 5


@pytest.mark.parametrize("value", [-1, 21, "3", None])
def test_capacity_outside_zero_to_total_is_refused(client, headers_for, value):
    facility = FacilityFactory(capacity_total=20, capacity_available=5)
    response = client.patch(f"{API}/{facility.id}/capacity", json={"capacity_available": value},
                            headers=headers_for(UserFactory(staff=True, facility=facility)))
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["capacity_available"]


# Who may see where a confidential shelter is: admins and its own staff, nobody else.
VIEWERS = {
    "admin": (lambda shelter: UserFactory(admin=True), True),
    "own facility_staff": (lambda shelter: UserFactory(staff=True, facility=shelter), True),
    "own promoter": (lambda shelter: UserFactory(facility=shelter), True),
    "other facility_staff": (lambda shelter: UserFactory(staff=True), False),
    "other promoter": (lambda shelter: UserFactory(facility=BorderPostFactory()), False),
    "manager": (lambda shelter: UserFactory(manager=True), False),
}


@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_a_confidential_location_is_shown_only_to_admins_and_own_staff(client, headers_for,
                                                                       viewer):
    make_user, sees = VIEWERS[viewer]
    shelter = FacilityFactory(kind="shelter", confidential=True, address="Calle oculta 7")
    public = FacilityFactory(address="Avenida central 1")
    headers = headers_for(make_user(shelter))
    one = client.get(f"{API}/{shelter.id}", headers=headers).get_json()
    listed = {f["id"]: f for f in client.get(API, headers=headers).get_json()["items"]}
    for body in (one, listed[str(shelter.id)]):
        location = (body["latitude"], body["longitude"], body["address"])
        expected = (13.625, -87.894, "Calle oculta 7") if sees else (None, None, None)
        assert location == expected
        assert body["name"] == shelter.name and body["confidential"] is True
    assert listed[str(public.id)]["address"] == "Avenida central 1"


def test_own_staff_see_their_confidential_location_after_reporting_capacity(client,
                                                                            headers_for):
    shelter = FacilityFactory(confidential=True, capacity_total=10)
    staff = UserFactory(staff=True, facility=shelter)
    body = client.patch(f"{API}/{shelter.id}/capacity", json={"capacity_available": 3},
                        headers=headers_for(staff)).get_json()
    assert (body["latitude"], body["longitude"]) == (13.625, -87.894)


def test_hiding_a_location_from_one_reader_does_not_erase_it(client, headers_for):
    shelter = FacilityFactory(confidential=True)
    hidden = client.get(API, headers=headers_for(UserFactory(manager=True))).get_json()
    assert hidden["items"][0]["latitude"] is None
    admin = client.get(f"{API}/{shelter.id}", headers=headers_for(UserFactory(admin=True)))
    assert (admin.get_json()["latitude"], admin.get_json()["longitude"]) == (13.625, -87.894)


def test_a_facility_dumped_without_a_viewer_hides_a_confidential_location(app):
    # The fail-safe behind every view: only directory.seen_by can reveal a location.
    shelter = FacilityFactory(confidential=True, address="Calle oculta 7")
    body = FacilityOut().dump(shelter)
    assert (body["latitude"], body["longitude"], body["address"]) == (None, None, None)
