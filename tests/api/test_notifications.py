"""Notifications over HTTP: the facility's list, the unread count, read, next options."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent, Notification
from referral.services import notifications
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    UserFactory,
)

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


@pytest.fixture
def post():
    return BorderPostFactory()


@pytest.fixture
def auth(post, headers_for):
    return headers_for(UserFactory(role="promoter", facility=post))


def referral_from(post, kind, at, **fields):
    """A referral from `post` and the notification `kind` about it (to `post`)."""
    referral = ReferralFactory(case=CaseFactory(facility=post), **fields)
    notifications.notify(db.session, facility_id=post.id, kind=kind, now=at,
                         case_id=referral.case_id, referral_id=referral.id)
    return referral


def notification_of(referral):
    return db.session.scalars(sa.select(Notification)
                              .where(Notification.referral_id == referral.id)).one()


def test_the_list_shows_the_facility_s_notifications_unread_first_then_newest(
        client, post, auth):
    old = referral_from(post, "referral_cancelled", T0)
    new = referral_from(post, "referral_cancelled", T0 + timedelta(hours=2))
    read = referral_from(post, "referral_cancelled", T0 + timedelta(hours=3))
    notification_of(read).read_at = T0 + timedelta(hours=4)
    referral_from(BorderPostFactory(), "referral_cancelled", T0)  # another facility's
    body = client.get("/api/v1/notifications", headers=auth).get_json()
    assert [item["referral_id"] for item in body["items"]] == [str(new.id), str(old.id),
                                                               str(read.id)]
    assert (body["total"], body["unread"], body["page"], body["per_page"]) == (3, 2, 1, 50)
    item = body["items"][0]
    assert set(item) == {"id", "kind", "case_id", "referral_id", "follow_up_id", "created_at",
                         "read_at", "options"}
    assert item["kind"] == "referral_cancelled" and item["case_id"] == str(new.case_id)
    assert item["created_at"] == "2026-11-22T16:00:00Z" and item["read_at"] is None
    assert item["options"] is None and item["follow_up_id"] is None


def test_unread_true_lists_only_the_unread_but_counts_them_all(client, post, auth):
    unread = referral_from(post, "referral_cancelled", T0)
    read = referral_from(post, "referral_cancelled", T0 + timedelta(hours=1))
    notification_of(read).read_at = T0 + timedelta(hours=2)
    body = client.get("/api/v1/notifications?unread=true", headers=auth).get_json()
    assert [item["referral_id"] for item in body["items"]] == [str(unread.id)]
    assert (body["total"], body["unread"]) == (1, 1)
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "notifications_listed")).one()
    assert event.detail == {"unread_only": True,
                            "notification_ids": [str(notification_of(unread).id)]}


def test_reading_a_notification_marks_it_once(client, post, auth):
    notice = notification_of(referral_from(post, "referral_cancelled", T0))
    url = f"/api/v1/notifications/{notice.id}/read"
    first = client.post(url, headers=auth)
    assert first.status_code == 200
    read_at = first.get_json()["read_at"]
    assert read_at is not None and first.get_json()["id"] == str(notice.id)
    again = client.post(url, headers=auth)
    assert again.status_code == 200 and again.get_json()["read_at"] == read_at
    body = client.get("/api/v1/notifications", headers=auth).get_json()
    assert body["unread"] == 0 and body["items"][0]["read_at"] == read_at
    events = db.session.scalars(sa.select(AuditEvent)
                                .where(AuditEvent.action == "notification_read")).all()
    assert [e.object_id for e in events] == [str(notice.id)] * 2


def test_another_facility_s_notification_is_404(client, headers_for, post):
    notice = notification_of(referral_from(post, "referral_cancelled", T0))
    stranger = headers_for(UserFactory(role="facility_staff"))
    response = client.post(f"/api/v1/notifications/{notice.id}/read", headers=stranger)
    assert response.status_code == 404
    assert db.session.get(Notification, notice.id, populate_existing=True).read_at is None
    unknown = "/api/v1/notifications/00000000-0000-4000-8000-000000000000/read"
    assert client.post(unknown, headers=stranger).status_code == 404
    assert client.get("/api/v1/notifications", headers=stranger).get_json()["total"] == 0


@pytest.mark.parametrize("kind", ["referral_declined", "referral_expired"])
def test_a_declined_or_expired_referral_comes_with_the_next_options(client, post, auth, kind):
    declined_by = FacilityFactory(name="Albergue que dijo no")
    tried_before = FacilityFactory(name="Clínica ya probada")
    case = CaseFactory(facility=post, needs=["gbv"])
    ReferralFactory(case=case, to_facility=tried_before, status="declined")
    next_best = FacilityFactory(name="Casa de acogida", capacity_available=9)
    without = FacilityFactory(name="Sin el servicio", services=["primary_care"])
    referral = ReferralFactory(case=case, to_facility=declined_by, status="declined")
    notifications.notify(db.session, facility_id=post.id, kind=kind, now=T0,
                         case_id=case.id, referral_id=referral.id)
    referral_from(post, "referral_cancelled", T0 - timedelta(hours=1), to_facility=without)
    items = client.get("/api/v1/notifications", headers=auth).get_json()["items"]
    assert [item["kind"] for item in items] == [kind, "referral_cancelled"]
    options = items[0]["options"]
    assert [option["facility_id"] for option in options] == [str(next_best.id)]
    assert options[0]["name"] == "Casa de acogida" and options[0]["kind"] == "clinic"
    assert options[0]["capacity_available"] == 9
    assert "offers gbv_care" in options[0]["reasons"]
    assert set(options[0]) == {"facility_id", "name", "kind", "distance_km",
                               "capacity_available", "score", "reasons"}
    assert items[1]["options"] is None
    read = client.post(f"/api/v1/notifications/{items[0]['id']}/read", headers=auth)
    assert [o["facility_id"] for o in read.get_json()["options"]] == [str(next_best.id)]


@pytest.mark.parametrize("traits", [{"manager": True}, {"admin": True}])
def test_managers_and_admins_have_no_notifications(client, headers_for, traits):
    headers = headers_for(UserFactory(**traits))
    assert client.get("/api/v1/notifications", headers=headers).status_code == 403
    assert client.post("/api/v1/notifications/00000000-0000-4000-8000-000000000000/read",
                       headers=headers).status_code == 403
