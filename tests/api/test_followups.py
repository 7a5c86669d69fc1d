"""Follow-ups over HTTP: schedule by hand, list, complete, cancel (API.md, Follow-ups)."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent, FollowUp
from referral.services import erasure, followups, pseudonyms
from tests.factories import BorderPostFactory, CaseFactory, UserFactory


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soon(**delta) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)


@pytest.fixture
def post():
    return BorderPostFactory()


@pytest.fixture
def promoter(post):
    return UserFactory(role="promoter", facility=post)


@pytest.fixture
def auth(promoter, headers_for):
    return headers_for(promoter)


def follow_up_at(facility, due_at, kind="contact", **fields):
    """A follow-up of a case of `facility`, assigned to it."""
    case = CaseFactory(facility=facility)
    follow_up = followups.schedule(db.session, case=case, kind=kind, due_at=due_at,
                                   facility_id=facility.id, now=soon(days=-3))
    for name, value in fields.items():
        setattr(follow_up, name, value)
    db.session.flush()
    return follow_up


def actions():
    return [e.action for e in db.session.scalars(sa.select(AuditEvent)
                                                 .order_by(AuditEvent.seq))]


# Scheduling by hand


def test_staff_schedule_a_follow_up_of_their_case_at_their_facility(client, post, auth):
    case = CaseFactory(facility=post)
    due = soon(days=3)
    response = client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=auth, json={
        "kind": "contact", "due_at": iso(due), "notes": "Llamar por la tarde, no al trabajo."})
    assert response.status_code == 201
    body = response.get_json()
    assert body["case_id"] == str(case.id) and body["referral_id"] is None
    assert body["pseudonym"] == pseudonyms.display(case.subject.pseudonym)
    assert body["assigned_facility_id"] == str(post.id)
    assert (body["kind"], body["status"], body["due_at"]) == ("contact", "scheduled", iso(due))
    assert body["notes"] == "Llamar por la tarde, no al trabajo."
    assert body["outcome"] is None and body["completed_at"] is None
    assert body["created_at"].endswith("Z")
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "follow_up_scheduled")).one()
    assert event.object_id == body["id"]
    assert "tarde" not in str(event.detail)


def test_a_case_of_another_facility_cannot_get_a_follow_up(client, auth):
    other = CaseFactory()
    response = client.post(f"/api/v1/cases/{other.id}/follow-ups", headers=auth,
                           json={"kind": "contact", "due_at": iso(soon(days=1))})
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0


@pytest.mark.parametrize(("due_at", "field"), [
    ("2026-12-01T10:00:00", "due_at"),
    (iso(soon(days=-1, hours=-1)), "due_at"),
    (iso(soon(days=2 * 366 + 1)), "due_at"),
], ids=["no time zone", "over a day ago", "over two years ahead"])
def test_a_due_time_without_zone_or_out_of_range_is_refused(client, post, auth, due_at, field):
    case = CaseFactory(facility=post)
    response = client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=auth,
                           json={"kind": "contact", "due_at": due_at})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]


def test_a_late_entry_a_few_hours_back_is_accepted(client, post, auth):
    case = CaseFactory(facility=post)
    response = client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=auth,
                           json={"kind": "clinical_review", "due_at": iso(soon(hours=-20))})
    assert response.status_code == 201


def test_an_unknown_kind_or_field_is_refused(client, post, auth):
    case = CaseFactory(facility=post)
    url = f"/api/v1/cases/{case.id}/follow-ups"
    bad_kind = client.post(url, headers=auth, json={"kind": "visit", "due_at": iso(soon(days=1))})
    assert bad_kind.status_code == 422 and "kind" in bad_kind.get_json()["error"]["fields"]
    extra = client.post(url, headers=auth, json={"kind": "contact", "due_at": iso(soon(days=1)),
                                                 "migration_status": "irregular"})
    assert extra.get_json()["error"]["fields"] == {"migration_status": ["Unknown field."]}


# Listing


def test_the_list_shows_open_follow_ups_overdue_first_then_soonest(client, post, auth):
    later = follow_up_at(post, soon(days=5))
    sooner = follow_up_at(post, soon(days=1))
    overdue = follow_up_at(post, soon(hours=-2))
    followups.mark_overdue(db.session, now=soon())
    done = follow_up_at(post, soon(days=2), status="done")
    follow_up_at(BorderPostFactory(), soon(days=1))  # another facility's
    body = client.get("/api/v1/follow-ups", headers=auth).get_json()
    assert [item["id"] for item in body["items"]] == [str(overdue.id), str(sooner.id),
                                                      str(later.id)]
    assert body["items"][0]["status"] == "overdue"
    assert (body["total"], body["page"], body["per_page"]) == (3, 1, 50)
    assert str(done.id) not in {item["id"] for item in body["items"]}


def test_the_list_filters_by_status_and_due_before(client, post, auth):
    tomorrow = follow_up_at(post, soon(days=1))
    follow_up_at(post, soon(days=9))
    done = follow_up_at(post, soon(days=2), status="done")
    due_soon = client.get("/api/v1/follow-ups", headers=auth,
                          query_string={"due_before": iso(soon(days=3))}).get_json()
    assert [item["id"] for item in due_soon["items"]] == [str(tomorrow.id)]
    finished = client.get("/api/v1/follow-ups?status=done", headers=auth).get_json()
    assert [item["id"] for item in finished["items"]] == [str(done.id)]
    assert client.get("/api/v1/follow-ups?status=late", headers=auth).status_code == 422


def test_the_list_pages_without_overlap_and_is_audited(client, post, auth):
    made = [follow_up_at(post, soon(days=n + 1)) for n in range(3)]
    first = client.get("/api/v1/follow-ups?per_page=2", headers=auth).get_json()
    second = client.get("/api/v1/follow-ups?per_page=2&page=2", headers=auth).get_json()
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == [str(f.id) for f in made] and first["total"] == 3
    events = db.session.scalars(sa.select(AuditEvent)
                                .where(AuditEvent.action == "follow_ups_listed")).all()
    assert [e.detail["follow_up_ids"] for e in events] == [ids[:2], ids[2:]]


# Complete and cancel


def test_completing_records_the_outcome_and_who_did_it(client, post, promoter, auth):
    follow_up = follow_up_at(post, soon(days=1))
    follow_up.notes = "Preguntar por la herida."
    response = client.post(f"/api/v1/follow-ups/{follow_up.id}/complete", headers=auth,
                           json={"outcome": "reached", "notes": "Está bien, sin fiebre."})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["outcome"]) == ("done", "reached")
    assert body["completed_at"].endswith("Z")
    assert body["notes"] == "Preguntar por la herida.\n\nEstá bien, sin fiebre."
    stored = db.session.get(FollowUp, follow_up.id, populate_existing=True)
    assert stored.completed_by == promoter.id
    assert "fiebre" not in str(db.session.scalars(sa.select(AuditEvent.detail)).all())


def test_a_missed_outcome_leaves_the_follow_up_missed(client, post, auth):
    follow_up = follow_up_at(post, soon(hours=-3))
    followups.mark_overdue(db.session, now=soon())
    response = client.post(f"/api/v1/follow-ups/{follow_up.id}/complete", headers=auth,
                           json={"outcome": "missed"})
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["outcome"]) == ("missed",
                                                                                "missed")


def test_completing_twice_is_a_conflict_and_changes_nothing(client, post, auth):
    follow_up = follow_up_at(post, soon(days=1))
    url = f"/api/v1/follow-ups/{follow_up.id}/complete"
    assert client.post(url, headers=auth, json={"outcome": "reached"}).status_code == 200
    again = client.post(url, headers=auth, json={"outcome": "not_reached", "notes": "x"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    stored = db.session.get(FollowUp, follow_up.id, populate_existing=True)
    assert (stored.outcome, stored.notes) == ("reached", None)


def test_cancelling_with_or_without_a_reason(client, post, auth):
    quiet, explained = follow_up_at(post, soon(days=1)), follow_up_at(post, soon(days=2))
    response = client.post(f"/api/v1/follow-ups/{quiet.id}/cancel", headers=auth)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    response = client.post(f"/api/v1/follow-ups/{explained.id}/cancel", headers=auth,
                           json={"reason": "Siguió su camino hacia el norte."})
    assert response.get_json()["notes"] == "Siguió su camino hacia el norte."
    stored = db.session.get(FollowUp, explained.id, populate_existing=True)
    assert stored.cancelled_at is not None and stored.completed_at is None
    assert "norte" not in str(db.session.scalars(sa.select(AuditEvent.detail)).all())
    assert actions().count("follow_up_cancelled") == 2


@pytest.mark.parametrize("status", ["done", "missed", "cancelled"])
def test_a_settled_follow_up_can_be_neither_completed_nor_cancelled(client, post, auth, status):
    follow_up = follow_up_at(post, soon(days=1), status=status)
    base = f"/api/v1/follow-ups/{follow_up.id}"
    assert client.post(f"{base}/complete", headers=auth,
                       json={"outcome": "reached"}).status_code == 409
    assert client.post(f"{base}/cancel", headers=auth, json={}).status_code == 409


def test_another_facility_cannot_see_complete_or_cancel_a_follow_up(client, headers_for, post):
    follow_up = follow_up_at(post, soon(days=1))
    stranger = headers_for(UserFactory(role="facility_staff"))
    base = f"/api/v1/follow-ups/{follow_up.id}"
    assert client.post(f"{base}/complete", headers=stranger,
                       json={"outcome": "reached"}).status_code == 404
    assert client.post(f"{base}/cancel", headers=stranger, json={}).status_code == 404
    assert client.get("/api/v1/follow-ups", headers=stranger).get_json()["total"] == 0
    assert db.session.get(FollowUp, follow_up.id, populate_existing=True).status == "scheduled"


def test_an_unknown_follow_up_is_404(client, auth):
    url = "/api/v1/follow-ups/00000000-0000-4000-8000-000000000000/complete"
    assert client.post(url, headers=auth, json={"outcome": "reached"}).status_code == 404


@pytest.mark.parametrize("traits", [{"manager": True}, {"admin": True}])
def test_managers_and_admins_may_not_use_follow_ups(client, headers_for, traits):
    headers = headers_for(UserFactory(**traits))
    assert client.get("/api/v1/follow-ups", headers=headers).status_code == 403
    assert client.post("/api/v1/follow-ups/00000000-0000-4000-8000-000000000000/cancel",
                       headers=headers, json={}).status_code == 403


def test_after_erasure_notes_read_null_and_no_new_notes_are_taken(client, post, auth):
    follow_up = follow_up_at(post, soon(days=1))
    follow_up.notes = "Vive con su tía en Choluteca."
    url = f"/api/v1/follow-ups/{follow_up.id}/complete"
    erasure.erase_subject(db.session, UserFactory(admin=True), follow_up.case.subject.pseudonym,
                          now=soon())
    body = client.get("/api/v1/follow-ups", headers=auth).get_json()
    assert body["items"][0]["notes"] is None
    refused = client.post(url, headers=auth, json={"outcome": "reached", "notes": "Bien."})
    assert refused.status_code == 422 and "notes" in refused.get_json()["error"]["fields"]
    assert client.post(url, headers=auth, json={"outcome": "reached"}).status_code == 200
