import uuid

import pytest

from referral.extensions import db
from referral.models import Case
from tests.api.test_cases import intake_body
from tests.factories import UserFactory


@pytest.fixture
def promoter():
    return UserFactory(role="promoter")


def item(payload=None, client_uuid=None):
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "kind": "case",
            "payload": payload or intake_body()}


def test_a_batch_gives_one_result_per_item_in_order(client, promoter, headers_for):
    bad = intake_body(consent={"data_collection": False})
    items = [item(), item(bad), item(), {"kind": "case"}]
    response = client.post("/api/v1/sync", json={"device_id": "tablet-7", "items": items},
                           headers=headers_for(promoter))
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "created", "rejected"]
    assert [r["client_uuid"] for r in results[:3]] == [i["client_uuid"] for i in items[:3]]
    assert "payload.consent.data_collection" in results[1]["error"]["fields"]
    assert results[1]["id"] is None
    assert "client_uuid" in results[3]["error"]["fields"]
    assert db.session.query(Case).count() == 2


def test_replaying_a_batch_creates_nothing_more(client, promoter, headers_for):
    batch = {"device_id": "tablet-7", "items": [item(), item()]}
    first = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter)).get_json()
    second = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter)).get_json()
    assert [r["status"] for r in second["results"]] == ["duplicate", "duplicate"]
    assert [r["id"] for r in first["results"]] == [r["id"] for r in second["results"]]
    assert db.session.query(Case).count() == 2


def test_a_case_posted_online_then_synced_is_a_duplicate(client, promoter, headers_for):
    client_uuid = str(uuid.uuid4())
    online = client.post("/api/v1/cases", json=intake_body(client_uuid=client_uuid),
                         headers=headers_for(promoter)).get_json()
    results = client.post("/api/v1/sync", json={"device_id": "t", "items": [
        item(client_uuid=client_uuid)]}, headers=headers_for(promoter)).get_json()["results"]
    assert results == [{"client_uuid": client_uuid, "status": "duplicate", "id": online["id"],
                        "error": None}]


def test_reusing_a_client_uuid_for_other_content_is_rejected(client, promoter, headers_for):
    client_uuid = str(uuid.uuid4())
    batch = {"device_id": "t", "items": [item(client_uuid=client_uuid),
                                         item(intake_body(urgency="emergency"), client_uuid)]}
    results = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter)).get_json()
    assert [r["status"] for r in results["results"]] == ["created", "rejected"]
    assert db.session.query(Case).count() == 1


def test_more_than_500_items_is_too_large(client, promoter, headers_for):
    batch = {"device_id": "t", "items": [item() for _ in range(501)]}
    response = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert db.session.query(Case).count() == 0


def test_unknown_fields_in_a_synced_payload_are_rejected(client, promoter, headers_for):
    payload = intake_body()
    payload["subject"]["migration_status"] = "irregular"
    results = client.post("/api/v1/sync", json={"device_id": "t", "items": [item(payload)]},
                          headers=headers_for(promoter)).get_json()["results"]
    assert results[0]["status"] == "rejected"
    assert results[0]["error"]["fields"] == {"payload.subject.migration_status":
                                             ["Unknown field."]}


def referral_item(case_client_uuid, to_facility, client_uuid=None, **payload):
    body = {"case_client_uuid": case_client_uuid, "to_facility_id": str(to_facility.id),
            "services": ["gbv_care"], "reason": "Referida sin conexión.", **payload}
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "kind": "referral",
            "payload": body}


def test_a_referral_made_offline_goes_up_with_its_case_exactly_once(client, promoter,
                                                                    headers_for):
    from referral.models import Referral
    from tests.factories import FacilityFactory

    clinic = FacilityFactory()
    case_item = item(intake_body(needs=["gbv"]))
    referral = referral_item(case_item["client_uuid"], clinic)
    batch = {"device_id": "tablet-7", "items": [case_item, referral]}
    first = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter)).get_json()
    assert [r["status"] for r in first["results"]] == ["created", "created"]
    again = client.post("/api/v1/sync", json=batch, headers=headers_for(promoter)).get_json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    stored = db.session.get(Referral, uuid.UUID(first["results"][1]["id"]))
    assert str(stored.case_id) == first["results"][0]["id"]
    assert (stored.to_facility_id, stored.status) == (clinic.id, "pending")
    assert db.session.query(Referral).count() == 1


def test_an_offline_referral_may_name_a_case_synced_in_an_earlier_batch(client, promoter,
                                                                        headers_for):
    from tests.factories import FacilityFactory

    clinic = FacilityFactory()
    case_item = item()
    client.post("/api/v1/sync", json={"device_id": "t", "items": [case_item]},
                headers=headers_for(promoter))
    later = client.post("/api/v1/sync", headers=headers_for(promoter), json={
        "device_id": "t", "items": [referral_item(case_item["client_uuid"], clinic)]})
    assert later.get_json()["results"][0]["status"] == "created"


def test_an_offline_referral_to_an_unknown_case_or_refused_target_is_rejected_alone(
        client, promoter, headers_for):
    from tests.factories import FacilityFactory

    clinic = FacilityFactory(services=["primary_care"])
    case_item = item()
    items = [case_item, referral_item(str(uuid.uuid4()), clinic, services=["primary_care"]),
             referral_item(case_item["client_uuid"], clinic)]
    results = client.post("/api/v1/sync", json={"device_id": "t", "items": items},
                          headers=headers_for(promoter)).get_json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected"]
    assert "payload.case_client_uuid" in results[1]["error"]["fields"]
    assert "payload.services" in results[2]["error"]["fields"]
