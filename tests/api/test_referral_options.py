"""GET /cases/{id}/referral-options: ranked facilities for a case of the caller's facility."""

import uuid

import pytest
import sqlalchemy as sa

from referral.models import AuditEvent
from tests.factories import BorderPostFactory, CaseFactory, FacilityFactory, UserFactory

KEYS = {"facility_id", "name", "kind", "distance_km", "capacity_available", "score", "reasons"}


def options_path(case, query="service=gbv_care"):
    return f"/api/v1/cases/{case.id}/referral-options?{query}"


@pytest.fixture
def world():
    post = BorderPostFactory(latitude=14.68, longitude=-92.15)
    return {
        "post": post,
        "promoter": UserFactory(role="promoter", facility=post),
        "case": CaseFactory(facility=post, needs=["gbv"], travel_direction="northbound"),
        "near": FacilityFactory(name="Clínica cercana", latitude=14.70, longitude=-92.10,
                                services=["gbv_care", "mental_health"]),
        "far": FacilityFactory(name="Clínica lejana", latitude=15.5, longitude=-91.5,
                               services=["gbv_care"]),
        "hidden": FacilityFactory(name="Refugio", kind="shelter", latitude=14.75,
                                  longitude=-92.2, services=["gbv_care", "shelter"],
                                  confidential=True, accepts_trafficking_survivors=True),
    }


def test_staff_get_ranked_options_in_the_shape_of_the_contract(client, headers_for, world):
    response = client.get(options_path(world["case"]), headers=headers_for(world["promoter"]))
    assert response.status_code == 200
    options = response.get_json()
    assert isinstance(options, list) and len(options) == 3
    assert all(set(option) == KEYS for option in options)
    by_name = {option["name"]: option for option in options}
    near = by_name["Clínica cercana"]
    assert near["facility_id"] == str(world["near"].id) and near["kind"] == "clinic"
    assert 5 < near["distance_km"] < 6 and near["capacity_available"] == 5
    assert "offers gbv_care" in near["reasons"]
    assert [option["score"] for option in options] == sorted(
        (option["score"] for option in options), reverse=True)
    hidden = by_name["Refugio"]
    assert hidden["distance_km"] is None and "location confidential" in hidden["reasons"]
    assert "accepts trafficking survivors" in hidden["reasons"]


def test_several_services_narrow_the_options_and_limit_caps_them(client, headers_for, world):
    headers = headers_for(world["promoter"])
    both = client.get(options_path(world["case"], "service=gbv_care,mental_health"),
                      headers=headers).get_json()
    assert [option["name"] for option in both] == ["Clínica cercana"]
    repeated = client.get(options_path(world["case"], "service=gbv_care&service=shelter"),
                          headers=headers).get_json()
    assert [option["name"] for option in repeated] == ["Refugio"]
    one = client.get(options_path(world["case"], "service=gbv_care&limit=1"), headers=headers)
    assert len(one.get_json()) == 1


def test_listing_options_is_audited_without_personal_data(client, headers_for, session, world):
    response = client.get(options_path(world["case"]), headers=headers_for(world["promoter"]))
    ids = [option["facility_id"] for option in response.get_json()]
    event = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "referral_options_listed")).one()
    assert event.object_type == "case" and event.object_id == str(world["case"].id)
    assert event.actor_id == world["promoter"].id
    assert event.detail == {"services": ["gbv_care"], "limit": 10, "facility_ids": ids}


@pytest.mark.parametrize(("query", "message"), [
    ("service=teleportation", ["Unknown service: teleportation."]),
    ("service=gbv_care,nope", ["Unknown service: nope."]),
    ("service=", ["Name at least one service."]),
    ("", ["Missing data for required field."]),
])
def test_a_missing_or_unknown_service_is_422(client, headers_for, world, query, message):
    response = client.get(options_path(world["case"], query),
                          headers=headers_for(world["promoter"]))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"service": message}


@pytest.mark.parametrize("limit", ["0", "51", "many"])
def test_a_limit_outside_1_to_50_is_422(client, headers_for, world, limit):
    response = client.get(options_path(world["case"], f"service=gbv_care&limit={limit}"),
                          headers=headers_for(world["promoter"]))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"limit"}


def test_a_case_of_another_facility_is_not_found(client, headers_for, world):
    stranger = CaseFactory(facility=BorderPostFactory())
    headers = headers_for(world["promoter"])
    for case_id in (stranger.id, uuid.uuid4()):
        response = client.get(f"/api/v1/cases/{case_id}/referral-options?service=gbv_care",
                              headers=headers)
        assert response.status_code == 404
        assert response.get_json() == {"error": {"code": "not_found", "message": "not found"}}


def test_facility_staff_may_list_options_for_their_own_cases(client, headers_for, world):
    staff = UserFactory(role="facility_staff", facility=world["post"])
    assert client.get(options_path(world["case"]), headers=headers_for(staff)).status_code == 200


@pytest.mark.parametrize("trait", ["manager", "admin"])
def test_managers_and_admins_are_forbidden(client, headers_for, world, trait):
    user = UserFactory(**{trait: True})
    response = client.get(options_path(world["case"]), headers=headers_for(user))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_without_a_token_it_is_401(client, world):
    response = client.get(options_path(world["case"]))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_openapi_documents_a_list_of_options(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    get = spec["paths"]["/api/v1/cases/{case_id}/referral-options"]["get"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array" and schema["items"]["$ref"].endswith("/OptionOut")
    params = {param["name"]: param for param in get["parameters"]}
    assert params["service"]["required"] is True
    assert set(spec["components"]["schemas"]["OptionOut"]["properties"]) == KEYS
