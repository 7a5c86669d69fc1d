import uuid

import pytest

from referral.extensions import db
from referral.models import AuditEvent, Case, Subject
from tests.factories import BorderPostFactory, CaseFactory, UserFactory


def intake_body(**overrides):
    body = {
        "subject": {"given_name": "María José", "family_name": "Núñez", "birth_year": 1994,
                    "sex": "female", "nationality": "HN", "languages": ["es", "quc"],
                    "phone": "+504 9999 1234"},
        "consent": {"data_collection": True, "referral_sharing": True,
                    "follow_up_contact": True, "method": "verbal", "given_by": "self"},
        "needs": ["injury", "sexual_reproductive_health"],
        "urgency": "urgent",
        "vulnerabilities": ["pregnant"],
        "travel_direction": "northbound",
        "notes": "Herida en el pie izquierdo.",
    }
    body.update(overrides)
    return body


@pytest.fixture
def promoter():
    return UserFactory(role="promoter")


def post_case(client, headers, body):
    return client.post("/api/v1/cases", json=body, headers=headers)


def test_intake_creates_a_case_with_a_new_pseudonym(client, promoter, headers_for):
    response = post_case(client, headers_for(promoter), intake_body())
    assert response.status_code == 201
    case = response.get_json()
    assert case["facility_id"] == str(promoter.facility_id)
    assert case["status"] == "open" and case["urgency"] == "urgent"
    assert case["needs"] == ["injury", "sexual_reproductive_health"]
    assert case["subject"]["given_name"] == "María José"
    assert case["subject"]["languages"] == ["es", "quc"]
    assert case["notes"] == "Herida en el pie izquierdo."
    assert case["age_band"] in ("30-49", "18-29")
    code = case["subject"]["pseudonym"]
    assert len(code) == 11 and code[4] == "-" and code[9] == "-"
    assert case["created_at"].endswith("Z")
    assert case["consent"]["referral_sharing"] is True


def test_intake_without_consent_to_collect_is_refused(client, promoter, headers_for):
    body = intake_body(consent={"data_collection": False})
    response = post_case(client, headers_for(promoter), body)
    assert response.status_code == 422
    assert "consent.data_collection" in response.get_json()["error"]["fields"]
    assert db.session.query(Case).count() == 0


@pytest.mark.parametrize("field", ["migration_status", "passport_number", "visa", "document_id"])
def test_intake_refuses_fields_it_must_never_store(client, promoter, headers_for, field):
    body = intake_body()
    body["subject"][field] = "X123"
    response = post_case(client, headers_for(promoter), body)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {f"subject.{field}": ["Unknown field."]}
    top = post_case(client, headers_for(promoter), {**intake_body(), field: "X"})
    assert top.status_code == 422 and field in top.get_json()["error"]["fields"]
    assert db.session.query(Subject).count() == 0


def test_invalid_fields_are_named(client, promoter, headers_for):
    body = intake_body(urgency="whenever", needs=["injury", "teleportation"])
    body["subject"]["birth_year"] = 1850
    body["subject"]["languages"] = ["Spanish"]
    fields = post_case(client, headers_for(promoter), body).get_json()["error"]["fields"]
    assert set(fields) == {"urgency", "needs.1", "subject.birth_year", "subject.languages.0"}


def test_the_same_client_uuid_and_body_is_answered_once(client, promoter, headers_for):
    headers = headers_for(promoter)
    body = intake_body(client_uuid=str(uuid.uuid4()))
    first = post_case(client, headers, body)
    again = post_case(client, headers, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert db.session.query(Case).count() == 1


def test_the_same_client_uuid_with_another_body_is_refused(client, promoter, headers_for):
    headers = headers_for(promoter)
    client_uuid = str(uuid.uuid4())
    assert post_case(client, headers, intake_body(client_uuid=client_uuid)).status_code == 201
    other = post_case(client, headers, intake_body(client_uuid=client_uuid, urgency="routine"))
    assert other.status_code == 422
    assert "client_uuid" in other.get_json()["error"]["fields"]
    assert db.session.query(Case).count() == 1


def test_a_returning_person_is_recorded_under_their_pseudonym(client, promoter, headers_for):
    headers = headers_for(promoter)
    first = post_case(client, headers, intake_body()).get_json()
    code = first["subject"]["pseudonym"].lower().replace("-", "")
    body = intake_body(subject={"pseudonym": code}, needs=["acute_illness"])
    second = post_case(client, headers, body)
    assert second.status_code == 201
    assert second.get_json()["subject"]["pseudonym"] == first["subject"]["pseudonym"]
    assert db.session.query(Subject).count() == 1


def test_a_mistyped_pseudonym_is_refused(client, promoter, headers_for):
    body = intake_body(subject={"pseudonym": "ABCD-EFGH-J"})
    response = post_case(client, headers_for(promoter), body)
    assert response.status_code == 422
    assert "subject.pseudonym" in response.get_json()["error"]["fields"]


def test_same_person_at_two_posts_is_flagged_as_possible_duplicate(client, headers_for):
    amatillo = UserFactory(facility=BorderPostFactory(code="BP-SV-EL-AMATILLO"))
    hachadura = UserFactory(facility=BorderPostFactory(code="BP-SV-LA-HACHADURA"))
    first = post_case(client, headers_for(amatillo), intake_body()).get_json()
    body = intake_body()
    body["subject"].update(given_name="maria jose", family_name="NUNEZ")  # accents, case
    second = post_case(client, headers_for(hachadura), body).get_json()
    assert second["possible_duplicates"] == [first["subject"]["pseudonym"]]
    again = client.get(f"/api/v1/cases/{first['id']}", headers=headers_for(amatillo))
    assert again.get_json()["possible_duplicates"] == [second["subject"]["pseudonym"]]


def test_list_is_scoped_paginated_and_filtered(client, promoter, headers_for):
    CaseFactory.create_batch(3, facility=promoter.facility, urgency="routine")
    CaseFactory(facility=promoter.facility, urgency="emergency")
    CaseFactory()  # another facility
    headers = headers_for(promoter)
    page = client.get("/api/v1/cases?per_page=2&page=2", headers=headers).get_json()
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (4, 2, 2, 2)
    urgent = client.get("/api/v1/cases?urgency=emergency", headers=headers).get_json()
    assert [c["urgency"] for c in urgent["items"]] == ["emergency"]
    assert client.get("/api/v1/cases?per_page=500", headers=headers).status_code == 422


def test_a_case_of_another_facility_is_not_found(client, promoter, headers_for):
    other = CaseFactory()
    headers = headers_for(promoter)
    assert client.get(f"/api/v1/cases/{other.id}", headers=headers).status_code == 404
    patch = client.patch(f"/api/v1/cases/{other.id}", json={"urgency": "urgent"},
                         headers=headers)
    assert patch.status_code == 404
    assert client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=headers).status_code == 404


def test_patch_updates_fields_and_audits_names_not_values(client, promoter, headers_for):
    case = CaseFactory(facility=promoter.facility)
    response = client.patch(f"/api/v1/cases/{case.id}", headers=headers_for(promoter),
                            json={"notes": "Se refiere a clínica.", "urgency": "urgent",
                                  "status": "closed"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["notes"], body["urgency"], body["status"]) == (
        "Se refiere a clínica.", "urgent", "closed")
    event = db.session.query(AuditEvent).filter_by(action="case_updated").one()
    assert event.detail == {"fields": ["notes", "status", "urgency"]}
    assert "clínica" not in str(event.detail)


def test_patch_cannot_set_referred_by_hand(client, promoter, headers_for):
    case = CaseFactory(facility=promoter.facility)
    response = client.patch(f"/api/v1/cases/{case.id}", json={"status": "referred"},
                            headers=headers_for(promoter))
    assert response.status_code == 422


def test_captured_at_of_an_offline_intake_is_kept(client, promoter, headers_for):
    body = intake_body(captured_at="2026-11-20T08:15:00-06:00")
    case = post_case(client, headers_for(promoter), body).get_json()
    assert case["captured_at"] == "2026-11-20T14:15:00Z"
    future = post_case(client, headers_for(promoter),
                       intake_body(captured_at="2099-01-01T00:00:00Z"))
    assert future.status_code == 422


def test_reads_and_writes_are_audited_without_personal_values(client, promoter, headers_for):
    headers = headers_for(promoter)
    case = post_case(client, headers, intake_body()).get_json()
    client.get(f"/api/v1/cases/{case['id']}", headers=headers)
    client.get("/api/v1/cases", headers=headers)
    events = db.session.query(AuditEvent).order_by(AuditEvent.seq).all()
    assert [e.action for e in events] == ["case_created", "case_read", "cases_listed"]
    assert all(e.actor_id == promoter.id for e in events)
    text = " ".join(str((e.detail, e.object_id, e.actor, e.ip)) for e in events)
    for value in ("María", "Núñez", "9999", "Herida", "1994"):
        assert value not in text
