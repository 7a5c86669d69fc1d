"""The promoter's intake form, the case page with its options, and referring from it."""

import re
import uuid

from referral.extensions import db
from referral.models import AuditEvent, Case, Referral
from referral.services import pseudonyms
from tests.factories import BorderPostFactory, FacilityFactory, UserFactory

GOOD = {
    "consent.data_collection": "yes", "consent.referral_sharing": "yes",
    "consent.method": "verbal", "consent.given_by": "self",
    "subject.given_name": "Rosa", "subject.family_name": "Mejía",
    "subject.age_estimate": "27", "subject.sex": "female", "subject.nationality": "HN",
    "subject.languages": ["es"], "needs": ["gbv", "injury"], "urgency": "urgent",
    "vulnerabilities": ["gbv_survivor"], "travel_direction": "northbound",
}


def _intake(web, **changes):
    web.get("/intake")
    form = {**GOOD, "client_uuid": str(uuid.uuid4()), **changes}
    return web.post("/intake", {k: v for k, v in form.items() if v is not None})


def test_the_form_asks_for_consent_before_anything_about_the_person(signed_in):
    html = signed_in(UserFactory()).get("/intake").get_data(as_text=True)
    assert html.index('name="consent.data_collection"') < html.index('name="subject.given_name"')
    assert "Acepta que registremos sus necesidades de salud" in html
    # every input a promoter fills has a label
    for name in ("subject-given_name", "subject-age_estimate", "subject-nationality", "notes"):
        assert f'for="{name}"' in html and f'id="{name}"' in html


def test_an_intake_shows_the_pseudonym_to_copy_and_stores_the_case(signed_in):
    user = UserFactory()
    web = signed_in(user)
    response = _intake(web)
    assert response.status_code == 302
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    case = db.session.query(Case).one()
    assert case.facility_id == user.facility_id
    assert sorted(case.needs) == ["gbv", "injury"] and case.urgency == "urgent"
    assert case.subject.given_name == "Rosa" and case.subject.nationality == "HN"
    shown = re.search(r'<p class="pseudonym" id="pseudonym">([^<]+)</p>', page).group(1)
    assert shown == pseudonyms.display(case.subject.pseudonym)
    assert "Registro guardado" in page


def test_without_consent_nothing_is_saved_and_the_field_says_why(signed_in):
    web = signed_in(UserFactory())
    response = _intake(web, **{"consent.data_collection": None})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="consent-data_collection-error"' in html
    assert "Sin consentimiento para registrar datos no se guarda nada." in html
    assert 'value="Rosa"' in html  # what was typed is still there
    assert db.session.query(Case).count() == 0


def test_a_wrong_age_is_marked_next_to_the_age_field(signed_in):
    web = signed_in(UserFactory())
    response = _intake(web, **{"subject.age_estimate": "300"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = html[html.index('id="subject-age_estimate"'):]
    assert 'aria-invalid="true"' in field[:400]
    assert "Debe estar entre 0 y 120." in html
    assert db.session.query(Case).count() == 0


def test_a_form_sent_twice_makes_one_case(signed_in):
    web = signed_in(UserFactory())
    web.get("/intake")
    form = {**GOOD, "client_uuid": str(uuid.uuid4())}
    first = web.post("/intake", form)
    second = web.post("/intake", form)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.query(Case).count() == 1


def test_names_are_optional(signed_in):
    web = signed_in(UserFactory())
    response = _intake(web, **{"subject.given_name": None, "subject.family_name": None})
    assert response.status_code == 302
    assert db.session.query(Case).one().subject.given_name is None


def test_the_case_page_ranks_options_and_one_tap_refers(signed_in):
    post = BorderPostFactory()
    user = UserFactory(facility=post)
    clinic = FacilityFactory(name="Clínica Las Flores", services=["primary_care", "gbv_care"])
    web = signed_in(user)
    location = _intake(web).headers["Location"]
    page = web.get(location).get_data(as_text=True)
    assert "Clínica Las Flores" in page and "ofrece Atención a VBG" in page
    assert "offers gbv_care" not in page  # the reasons in the page's language
    case = db.session.query(Case).one()
    action = f"/cases/{case.id}/refer"
    assert action in page
    pattern = '<form method="post" action="' + re.escape(action) + '">(.*?)</form>'
    form = re.search(pattern, page, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
    response = web.post(action, {**fields, "services": "gbv_care", "share": "minimum"})
    assert response.status_code == 302
    referral = db.session.query(Referral).one()
    assert referral.to_facility_id == clinic.id and referral.services == ["gbv_care"]
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert pseudonyms.display_slip_code(referral.code) in page
    assert f"/api/v1/referrals/{referral.id}/slip" in page
    # the same tap again (a double tap, a resent form) refers once
    web.post(action, {**fields, "services": "gbv_care", "share": "minimum"})
    assert db.session.query(Referral).count() == 1


def test_without_consent_to_share_the_case_page_offers_no_referral(signed_in):
    web = signed_in(UserFactory())
    FacilityFactory()
    location = _intake(web, **{"consent.referral_sharing": None}).headers["Location"]
    page = web.get(location).get_data(as_text=True)
    assert "no aceptó compartir su caso" in page
    assert "/refer" not in page


def test_another_facility_s_case_is_not_found(signed_in):
    web = signed_in(UserFactory())
    location = _intake(web).headers["Location"]
    other = signed_in(UserFactory())
    response = other.get(location)
    assert response.status_code == 404
    assert "Rosa" not in response.get_data(as_text=True)


def test_pages_leave_no_personal_data_in_the_audit_trail(signed_in):
    web = signed_in(UserFactory())
    web.get(_intake(web).headers["Location"])
    for event in db.session.query(AuditEvent):
        assert "Rosa" not in str(event.detail) and "Mejía" not in str(event.detail)
