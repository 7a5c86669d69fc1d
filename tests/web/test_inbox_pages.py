"""Clinic and shelter staff answer referrals from their inbox."""

from referral.extensions import db
from referral.models import Referral
from referral.services.pseudonyms import display, display_slip_code
from tests.factories import CaseFactory, FacilityFactory, ReferralFactory, UserFactory


def _staff_and_referrals(**kwargs):
    clinic = FacilityFactory()
    staff = UserFactory(staff=True, facility=clinic)
    return clinic, staff


def test_pending_emergencies_come_first(signed_in):
    clinic, staff = _staff_and_referrals()
    routine = ReferralFactory(to_facility=clinic, urgency="routine")
    accepted = ReferralFactory(to_facility=clinic, urgency="emergency", status="accepted")
    emergency = ReferralFactory(to_facility=clinic, urgency="emergency")
    ReferralFactory()  # to another facility
    html = signed_in(staff).get("/inbox").get_data(as_text=True)
    order = [html.index(display_slip_code(r.code)) for r in (emergency, routine, accepted)]
    assert order == sorted(order)
    assert html.count('class="code"') == 3


def test_a_slip_code_typed_loosely_finds_the_referral(signed_in):
    clinic, staff = _staff_and_referrals()
    referral = ReferralFactory(to_facility=clinic)
    web = signed_in(staff)
    loose = referral.code.lower().replace("-", " ")
    response = web.client.get("/inbox/find", query_string={"code": loose})
    assert response.headers["Location"] == f"/referrals/{referral.id}"


def test_an_unknown_code_says_so(signed_in):
    clinic, staff = _staff_and_referrals()
    other = ReferralFactory()  # real, but to another facility: not told apart
    web = signed_in(staff)
    for code in ("R-0000-0000", other.code):
        response = web.client.get("/inbox/find", query_string={"code": code})
        assert response.headers["Location"] == "/inbox"
        assert "Ninguna referencia" in web.get("/inbox").get_data(as_text=True)


def test_staff_accept_then_record_the_outcome(signed_in):
    clinic, staff = _staff_and_referrals()
    referral = ReferralFactory(to_facility=clinic)
    web = signed_in(staff)
    page = web.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert display(referral.case.subject.pseudonym) in page
    assert referral.case.subject.given_name not in page  # shared at the minimum level
    web.post(f"/referrals/{referral.id}/accept")
    assert db.session.get(Referral, referral.id).status == "accepted"
    page = web.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert "Aceptada. Se avisó" in page and 'name="outcome"' in page
    web.post(f"/referrals/{referral.id}/complete", {"outcome": "treated", "notes": "Curación."})
    done = db.session.get(Referral, referral.id)
    assert done.status == "completed" and done.outcome == "treated"


def test_an_outcome_must_be_chosen(signed_in):
    clinic, staff = _staff_and_referrals()
    referral = ReferralFactory(to_facility=clinic, status="accepted")
    web = signed_in(staff)
    web.get(f"/referrals/{referral.id}")
    web.post(f"/referrals/{referral.id}/complete", {"notes": "x"})
    assert db.session.get(Referral, referral.id).status == "accepted"
    assert "Falta este dato obligatorio." in web.get(f"/referrals/{referral.id}").get_data(
        as_text=True)


def test_declining_takes_a_reason_and_closes_the_case_to_the_clinic(signed_in):
    clinic, staff = _staff_and_referrals()
    referral = ReferralFactory(to_facility=clinic, case=CaseFactory(notes="Secreto"))
    web = signed_in(staff)
    web.get(f"/referrals/{referral.id}")
    web.post(f"/referrals/{referral.id}/decline", {"reason_code": "no_capacity"})
    declined = db.session.get(Referral, referral.id)
    assert declined.status == "declined" and declined.status_reason == "no_capacity"
    page = web.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert display(referral.case.subject.pseudonym) not in page  # access ended with the decline


def test_answering_twice_says_it_changed_meanwhile(app, signed_in):
    clinic, staff = _staff_and_referrals()
    referral = ReferralFactory(to_facility=clinic)
    first, second = signed_in(staff), signed_in(UserFactory(staff=True, facility=clinic))
    first.get(f"/referrals/{referral.id}")
    second.get(f"/referrals/{referral.id}")
    first.post(f"/referrals/{referral.id}/accept")
    second.post(f"/referrals/{referral.id}/decline", {"reason_code": "other"})
    assert db.session.get(Referral, referral.id).status == "accepted"
    assert "Alguien cambió esta referencia" in second.get(
        f"/referrals/{referral.id}").get_data(as_text=True)


def test_promoters_have_no_inbox(signed_in):
    assert signed_in(UserFactory()).get("/inbox").status_code == 403


def test_times_are_shown_in_the_facility_s_time_zone(signed_in):
    from datetime import UTC, datetime

    clinic = FacilityFactory(timezone="America/El_Salvador")  # UTC-6, no summer time
    staff = UserFactory(staff=True, facility=clinic)
    ReferralFactory(to_facility=clinic, created_at=datetime(2026, 11, 22, 14, 3, tzinfo=UTC))
    html = signed_in(staff).get("/inbox").get_data(as_text=True)
    assert "22/11/26, 8:03" in html and "14:03" not in html


def test_staff_report_their_free_places_from_the_inbox(signed_in):
    from referral.models import Facility

    clinic, staff = _staff_and_referrals()
    web = signed_in(staff)
    web.get("/inbox")
    web.post("/inbox/capacity", {"capacity_available": "3"})
    saved = db.session.get(Facility, clinic.id)
    assert saved.capacity_available == 3 and saved.capacity_updated_at is not None
    web.post("/inbox/capacity", {"capacity_available": "-1"})
    assert db.session.get(Facility, clinic.id).capacity_available == 3
    assert "No es un número entero." in web.get("/inbox").get_data(as_text=True)
