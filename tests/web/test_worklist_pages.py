"""The follow-up worklist and the notifications bell."""

import re
from datetime import UTC, datetime, timedelta

from referral.extensions import db
from referral.models import FollowUp
from referral.services import followups, notifications
from referral.services.pseudonyms import display
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    UserFactory,
)


def _due(case, facility, hours, status="scheduled"):
    now = datetime.now(UTC)
    item = followups.schedule(db.session, case=case, kind="contact",
                              due_at=now + timedelta(hours=hours), facility_id=facility.id,
                              now=now)
    item.status = status
    return item


def test_overdue_first_then_today_then_this_week(signed_in):
    post = BorderPostFactory(timezone="America/El_Salvador")
    user = UserFactory(facility=post)
    late, soon, later, far = (CaseFactory(facility=post) for _ in range(4))
    _due(late, post, -30, status="overdue")
    today = _due(soon, post, 0.01)
    _due(far, post, 24 * 9)  # after this week: not on the list yet
    week_end = datetime.now(UTC) + timedelta(days=6 - datetime.now(UTC).weekday())
    week = _due(later, post, 24 * 2) if week_end - datetime.now(UTC) > timedelta(days=2) \
        else None
    html = signed_in(user).get("/follow-ups").get_data(as_text=True)
    sections = {name: html.index(f'id="group-{name}"') for name in ("overdue", "today", "week")}
    assert sections["overdue"] < sections["today"] < sections["week"]
    assert sections["overdue"] < html.index(display(late.subject.pseudonym)) < sections["today"]
    assert sections["today"] < html.index(display(soon.subject.pseudonym))
    assert display(far.subject.pseudonym) not in html
    if week is not None:
        assert html.index(display(later.subject.pseudonym)) > sections["week"]
    assert today.status == "scheduled"


def test_a_follow_up_is_completed_in_place(signed_in):
    post = BorderPostFactory()
    user = UserFactory(facility=post)
    item = _due(CaseFactory(facility=post), post, -1, status="overdue")
    web = signed_in(user)
    web.get("/follow-ups")
    response = web.post(f"/follow-ups/{item.id}/complete", {"outcome": "reached",
                                                              "notes": "Está bien."})
    assert response.headers["Location"] == "/follow-ups"
    done = db.session.get(FollowUp, item.id)
    assert done.status == "done" and done.outcome == "reached"
    assert "Seguimiento registrado." in web.get("/follow-ups").get_data(as_text=True)


def test_a_follow_up_is_cancelled_in_place(signed_in):
    post = BorderPostFactory()
    user = UserFactory(facility=post)
    item = _due(CaseFactory(facility=post), post, 2)
    web = signed_in(user)
    web.get("/follow-ups")
    web.post(f"/follow-ups/{item.id}/cancel", {"reason": "Siguió su camino."})
    assert db.session.get(FollowUp, item.id).status == "cancelled"


def test_another_facility_s_follow_up_cannot_be_touched(signed_in):
    post = BorderPostFactory()
    item = _due(CaseFactory(facility=post), post, -1, status="overdue")
    web = signed_in(UserFactory())
    web.get("/follow-ups")
    assert web.post(f"/follow-ups/{item.id}/complete", {"outcome": "reached"}).status_code \
        == 404
    assert db.session.get(FollowUp, item.id).status == "overdue"


def test_the_bell_counts_unread_and_opening_one_reads_it(signed_in):
    clinic = FacilityFactory()
    referral = ReferralFactory(to_facility=clinic)
    staff = UserFactory(staff=True, facility=clinic)
    now = datetime.now(UTC)
    notifications.notify(db.session, facility_id=referral.to_facility_id,
                         kind="referral_received", now=now, case_id=referral.case_id,
                         referral_id=referral.id)
    web = signed_in(staff)
    html = web.get("/notifications").get_data(as_text=True)
    assert re.search(r'class="count"[^>]*>1<', html)
    assert "Nueva referencia por responder" in html
    response = web.post(f"/notifications/{_only_id(html)}/read")
    assert response.headers["Location"] == f"/referrals/{referral.id}"
    assert 'class="count"' not in web.get("/notifications").get_data(as_text=True)


def _only_id(html):
    return re.search(r"/notifications/([0-9a-f-]{36})/read", html).group(1)
