"""GET /audit and /audit/verify: admins only, filters, pages, and no personal values."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent
from referral.services import audit
from tests.factories import DEFAULT_PASSWORD, UserFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = {"id", "seq", "at", "actor", "actor_id", "action", "object_type", "object_id", "ip",
          "detail", "prev_hash", "hash"}


def seed(actor, n, action="case_read", object_id=None, start=0):
    return [audit.record(db.session, action, actor=actor, object_type="case",
                         object_id=object_id or uuid.uuid4(), ip="198.51.100.7",
                         detail={"n": i}, now=T0 + timedelta(minutes=start + i))
            for i in range(n)]


@pytest.fixture
def admin_headers(headers_for):
    return headers_for(UserFactory(admin=True, username="root"))


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/audit/verify"])
def test_the_audit_log_needs_credentials(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("traits", [{}, {"staff": True}, {"manager": True}],
                         ids=["promoter", "facility_staff", "manager"])
@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/audit/verify"])
def test_only_admins_may_read_or_verify_the_audit_log(client, headers_for, traits, path):
    response = client.get(path, headers=headers_for(UserFactory(**traits)))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_admin_reads_events_newest_first_with_their_hashes(client, admin_headers):
    events = seed(UserFactory(username="ana"), 3)
    body = client.get("/api/v1/audit", headers=admin_headers).get_json()
    assert body["total"] == 3 and (body["page"], body["per_page"]) == (1, 50)
    assert [e["id"] for e in body["items"]] == [str(e.id) for e in reversed(events)]
    newest = body["items"][0]
    assert set(newest) == FIELDS
    assert newest["actor"] == "ana" and newest["hash"] == events[2].hash
    assert newest["at"] == "2026-03-01T12:02:00Z"


def test_pages_split_the_log_without_overlap(client, admin_headers):
    seed(UserFactory(), 5)
    first = client.get("/api/v1/audit?action=case_read&per_page=2", headers=admin_headers)
    third = client.get("/api/v1/audit?action=case_read&per_page=2&page=3",
                       headers=admin_headers)
    assert [e["seq"] for e in first.get_json()["items"]] == [5, 4]
    assert [e["seq"] for e in third.get_json()["items"]] == [1]
    assert third.get_json()["total"] == 5


def test_per_page_over_the_limit_is_refused(client, admin_headers):
    response = client.get("/api/v1/audit?per_page=201", headers=admin_headers)
    assert response.status_code == 422
    assert "per_page" in str(response.get_json()["error"]["fields"])


def test_actor_filter_takes_a_username_or_a_user_id(client, admin_headers):
    ana, luis = UserFactory(username="ana"), UserFactory(username="luis")
    mine = seed(ana, 2)
    seed(luis, 3)
    audit.record(db.session, "login_failed", ip="198.51.100.9")  # no actor
    by_name = client.get("/api/v1/audit?actor=ANA", headers=admin_headers).get_json()
    by_id = client.get(f"/api/v1/audit?actor={ana.id}", headers=admin_headers).get_json()
    assert {e["id"] for e in by_name["items"]} == {str(e.id) for e in mine}
    assert by_id["items"] == by_name["items"]
    unknown = client.get("/api/v1/audit?actor=nobody", headers=admin_headers).get_json()
    assert unknown["total"] == 0


def test_object_and_action_filters_narrow_the_log(client, admin_headers):
    user, case_id = UserFactory(), uuid.uuid4()
    seed(user, 2, object_id=case_id)
    seed(user, 1, action="case_updated", object_id=case_id, start=5)
    seed(user, 4)
    about = client.get(f"/api/v1/audit?object_id={str(case_id).upper()}",
                       headers=admin_headers).get_json()
    assert about["total"] == 3
    assert {e["object_id"] for e in about["items"]} == {str(case_id)}
    both = client.get(f"/api/v1/audit?object_id={case_id}&action=case_updated",
                      headers=admin_headers).get_json()
    assert [e["action"] for e in both["items"]] == ["case_updated"]


def test_reading_the_log_is_audited_with_filter_names_not_values(client, admin_headers):
    seed(UserFactory(username="ana"), 1)
    client.get("/api/v1/audit?actor=ana&object_id=Maria%20Lopez", headers=admin_headers)
    read = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit_read"))
    assert read.actor == "root"
    assert read.detail["filters"] == ["actor", "object_id"]
    assert "Maria" not in str(read.detail) and "ana" not in str(read.detail)


def test_verify_reports_a_clean_chain_and_its_count(client, admin_headers):
    seed(UserFactory(), 4)
    response = client.get("/api/v1/audit/verify", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "events": 4}
    # Verifying is a read of hashes only: it adds no event.
    again = client.get("/api/v1/audit/verify", headers=admin_headers)
    assert again.get_json() == {"ok": True, "events": 4}


def test_verify_names_the_first_bad_event(client, admin_headers):
    events = seed(UserFactory(), 4)
    db.session.commit()
    db.session.execute(sa.text("UPDATE audit_events SET detail = '{\"n\": 9}' WHERE seq = 2"))
    body = client.get("/api/v1/audit/verify", headers=admin_headers).get_json()
    assert body["ok"] is False
    assert (body["first_bad_event"], body["first_bad_seq"]) == (str(events[1].id), 2)


def test_verify_reports_deleted_newest_events_by_seq(client, admin_headers):
    seed(UserFactory(), 4)
    db.session.commit()
    db.session.execute(sa.text("DELETE FROM audit_events WHERE seq = 4"))
    body = client.get("/api/v1/audit/verify", headers=admin_headers).get_json()
    assert body["ok"] is False
    assert (body["first_bad_event"], body["first_bad_seq"], body["events"]) == (None, 4, 3)


def test_logins_leave_no_password_or_typed_username_in_the_log(client, admin_headers):
    UserFactory(username="ana")
    wrong, typed = "Wrong-pass 1994 Tegucigalpa", "maria.lopez.1994"
    assert client.post("/api/v1/auth/token",
                       json={"username": "ana", "password": DEFAULT_PASSWORD}).status_code == 200
    assert client.post("/api/v1/auth/token",
                       json={"username": "ana", "password": wrong}).status_code == 401
    assert client.post("/api/v1/auth/token",
                       json={"username": typed, "password": wrong}).status_code == 401
    stored = db.session.execute(sa.select(AuditEvent.__table__)).all()
    assert sorted(row.action for row in stored) == ["login", "login_failed", "login_failed"]
    listed = client.get("/api/v1/audit", headers=admin_headers).get_data(as_text=True)
    for text in [str(tuple(row)) for row in stored] + [listed]:
        for secret in (DEFAULT_PASSWORD, wrong, typed, "Tegucigalpa"):
            assert secret not in text
