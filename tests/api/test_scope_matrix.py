"""For each role and each endpoint: a forbidden endpoint is 403, and an object of another
facility is invisible (404), while the caller's own object is reachable."""

from datetime import UTC, datetime, timedelta

import pytest

from referral.extensions import db
from referral.models import FollowUp, Notification
from referral.models.codes import ROLES
from referral.services import pseudonyms
from tests.api.test_cases import intake_body
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    UserFactory,
)

STAFF = {"promoter", "facility_staff"}
RECEIVERS = {"facility_staff"}
LATER = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
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
    ("GET", "/api/v1/cases/{case}/referral-options?service=gbv_care", None, STAFF, True),
    ("POST", "/api/v1/referrals", {}, STAFF, False),
    ("GET", "/api/v1/referrals", None, STAFF, False),
    ("GET", "/api/v1/referrals/{referral}", None, STAFF, True),
    ("GET", "/api/v1/referrals/by-code/{code}", None, STAFF, True),
    ("POST", "/api/v1/referrals/{incoming}/accept", None, RECEIVERS, True),
    ("POST", "/api/v1/referrals/{incoming}/decline", {"reason_code": "no_capacity"}, RECEIVERS,
     True),
    ("POST", "/api/v1/referrals/{referral}/cancel", {}, STAFF, True),
    ("GET", "/api/v1/follow-ups", None, STAFF, False),
    ("POST", "/api/v1/cases/{case}/follow-ups", {"kind": "contact", "due_at": LATER}, STAFF,
     True),
    ("POST", "/api/v1/follow-ups/{follow_up}/complete", {"outcome": "reached"}, STAFF, True),
    ("POST", "/api/v1/follow-ups/{follow_up}/cancel", {}, STAFF, True),
    ("GET", "/api/v1/referrals/{referral}/slip", None, STAFF, True),
    ("GET", "/api/v1/notifications", None, STAFF, False),
    ("POST", "/api/v1/notifications/{notification}/read", None, STAFF, True),
    ("GET", "/api/v1/stats?group_by=sex", None, {"manager", "admin"}, False),
]


def objects_of(facility, elsewhere):
    """A case, a referral sent, a referral received, a follow-up and a notification."""
    case = CaseFactory(facility=facility, needs=["gbv"])
    referral = ReferralFactory(case=case, to_facility=elsewhere)
    incoming = ReferralFactory(case=CaseFactory(facility=elsewhere), to_facility=facility)
    follow_up = FollowUp(case=case, assigned_facility_id=facility.id, kind="contact",
                         due_at=datetime.now(UTC) + timedelta(days=1))
    notification = Notification(facility_id=facility.id, kind="referral_received",
                                referral_id=incoming.id, case_id=incoming.case_id,
                                dedupe_key=f"referral_received:{incoming.id}")
    db.session.add_all([follow_up, notification])
    db.session.flush()
    return {"case": case, "facility": facility, "referral": referral, "incoming": incoming,
            "follow_up": follow_up, "notification": notification}


@pytest.fixture
def world():
    """Two border posts with a case each; one user of every role at the first post."""
    home, away = BorderPostFactory(), BorderPostFactory()
    users = {role: UserFactory(role=role, facility=home if role in STAFF else None)
             for role in ROLES}
    return {
        "users": users,
        "own": objects_of(home, FacilityFactory()),
        "other": objects_of(away, FacilityFactory()),
    }


def fill(path, objects):
    case, facility = objects["case"], objects["facility"]
    return path.format(case=case.id, pseudonym=pseudonyms.display(case.subject.pseudonym),
                       facility=facility.id, referral=objects["referral"].id,
                       code=pseudonyms.display_slip_code(objects["referral"].code),
                       incoming=objects["incoming"].id, follow_up=objects["follow_up"].id,
                       notification=objects["notification"].id)


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
        assert own.status_code in (200, 201), own.get_json()
    else:
        assert other.status_code not in (401, 403, 404), other.get_json()


@pytest.mark.parametrize(("method", "path", "body", "allowed", "scoped"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_no_token_is_401(client, world, method, path, body, allowed, scoped):
    response = call(client, {}, method, fill(path, world["other"]), body)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
