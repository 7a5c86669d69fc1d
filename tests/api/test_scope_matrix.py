"""For each role and each endpoint: a forbidden endpoint is 403, and an object of another
facility is invisible (404), while the caller's own object is reachable."""

import pytest

from referral.models.codes import ROLES
from referral.services import pseudonyms
from tests.api.test_cases import intake_body
from tests.factories import BorderPostFactory, CaseFactory, UserFactory

STAFF = {"promoter", "facility_staff"}
EVERYONE = set(ROLES)

# (method, path, body, roles allowed, scoped to the caller's facility)
ENDPOINTS = [
    ("GET", "/api/v1/cases", None, STAFF, False),
    ("POST", "/api/v1/cases", intake_body(), STAFF, False),
    ("GET", "/api/v1/cases/{case}", None, STAFF, True),
    ("PATCH", "/api/v1/cases/{case}", {"urgency": "urgent"}, STAFF, True),
    ("GET", "/api/v1/subjects/{pseudonym}", None, STAFF, True),
    ("POST", "/api/v1/subjects/match", {"given_name": "Ana", "birth_year": 1990}, STAFF, False),
    ("DELETE", "/api/v1/subjects/{pseudonym}", None, {"admin"}, False),
    ("POST", "/api/v1/sync", {"device_id": "t", "items": []}, STAFF, False),
    ("GET", "/api/v1/facilities", None, EVERYONE, False),
    ("GET", "/api/v1/facilities/{facility}", None, EVERYONE, False),
    ("POST", "/api/v1/facilities", {}, {"admin"}, False),
    ("PATCH", "/api/v1/facilities/{facility}", {"name": "Otra"}, {"admin"}, False),
    ("GET", "/api/v1/audit", None, {"admin"}, False),
    ("GET", "/api/v1/audit/verify", None, {"admin"}, False),
    ("GET", "/api/v1/auth/me", None, EVERYONE, False),
]


@pytest.fixture
def world():
    """Two border posts with a case each; one user of every role at the first post."""
    home, away = BorderPostFactory(), BorderPostFactory()
    users = {role: UserFactory(role=role, facility=home if role in STAFF else None)
             for role in ROLES}
    return {
        "users": users,
        "own": {"case": CaseFactory(facility=home), "facility": home},
        "other": {"case": CaseFactory(facility=away), "facility": away},
    }


def fill(path, objects):
    case, facility = objects["case"], objects["facility"]
    return path.format(case=case.id, pseudonym=pseudonyms.display(case.subject.pseudonym),
                       facility=facility.id)


def call(client, headers, method, path, body):
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed", "scoped"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_scope(client, headers_for, world, role, method, path, body, allowed, scoped):
    headers = headers_for(world["users"][role])
    other = call(client, headers, method, fill(path, world["other"]), body)
    if role not in allowed:
        assert other.status_code == 403, other.get_json()
        assert other.get_json()["error"]["code"] == "forbidden"
        return
    if scoped:
        assert other.status_code == 404, other.get_json()
        assert other.get_json() == {"error": {"code": "not_found", "message": "not found"}}
        own = call(client, headers, method, fill(path, world["own"]), body)
        assert own.status_code == 200, own.get_json()
    else:
        assert other.status_code not in (401, 403, 404), other.get_json()


@pytest.mark.parametrize(("method", "path", "body", "allowed", "scoped"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_no_token_is_401(client, world, method, path, body, allowed, scoped):
    response = call(client, {}, method, fill(path, world["other"]), body)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
