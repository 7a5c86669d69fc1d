"""Admin pages: accounts, facilities, keys and the audit chain."""

import re

from referral.extensions import db
from referral.models import ApiToken, AuditEvent, Facility, User
from tests.factories import FacilityFactory, UserFactory
from tests.web.conftest import Browser


def _admin(signed_in):
    return signed_in(UserFactory(admin=True))


def test_an_admin_creates_an_account_whose_password_is_shown_once(app, signed_in):
    post = FacilityFactory(code="BP-SV-TEST-NEW")
    web = _admin(signed_in)
    web.get("/admin/users")
    response = web.post("/admin/users", {"username": "ana.promotora", "role": "promoter",
                                         "facility": post.code, "locale": "fr"})
    assert response.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    user = db.session.query(User).filter_by(username="ana.promotora").one()
    assert (user.role, user.facility_id, user.locale) == ("promoter", post.id, "fr")
    assert password not in user.password_hash
    event = db.session.query(AuditEvent).filter_by(action="user_created").one()
    assert password not in str(event.detail) and "ana" not in str(event.detail)
    newcomer = Browser(app.test_client())
    newcomer.get("/login")
    assert newcomer.post("/login", {"username": "ana.promotora",
                                    "password": password}).status_code == 302
    assert password not in web.get("/admin/users").get_data(as_text=True)


def test_a_facility_role_without_a_facility_is_refused_next_to_the_field(signed_in):
    web = _admin(signed_in)
    web.get("/admin/users")
    response = web.post("/admin/users", {"username": "sin.lugar", "role": "promoter"})
    assert response.status_code == 422
    assert 'id="facility-error"' in response.get_data(as_text=True)
    assert db.session.query(User).filter_by(username="sin.lugar").count() == 0


def test_deactivating_ends_the_account_s_sessions(app, signed_in):
    user = UserFactory()
    their = signed_in(user)
    assert their.get("/intake").status_code == 200
    web = _admin(signed_in)
    web.get("/admin/users")
    web.post(f"/admin/users/{user.id}/active", {"active": "no"})
    assert db.session.get(User, user.id).active is False
    assert their.client.get("/intake").status_code == 302
    assert db.session.query(ApiToken).filter_by(user_id=user.id, revoked_at=None).count() == 0
    web.post(f"/admin/users/{user.id}/active", {"active": "yes"})
    assert db.session.get(User, user.id).active is True


def test_an_admin_cannot_deactivate_themselves(signed_in):
    admin = UserFactory(admin=True)
    web = signed_in(admin)
    web.get("/admin/users")
    web.post(f"/admin/users/{admin.id}/active", {"active": "no"})
    assert db.session.get(User, admin.id).active is True


def test_a_password_reset_gives_a_new_one_and_ends_sessions(app, signed_in):
    user = UserFactory()
    their = signed_in(user)
    web = _admin(signed_in)
    web.get("/admin/users")
    page = web.post(f"/admin/users/{user.id}/password").get_data(as_text=True)
    password = re.search(r'id="new-password">([^<]+)<', page).group(1)
    assert their.client.get("/intake").status_code == 302
    fresh = Browser(app.test_client())
    assert fresh.sign_in(user, password=password).status_code == 302


def test_an_admin_edits_a_facility_and_its_capacity(signed_in):
    clinic = FacilityFactory(services=["primary_care"], capacity_total=20)
    web = _admin(signed_in)
    page = web.get(f"/admin/facilities/{clinic.id}").get_data(as_text=True)
    assert clinic.name in page
    form = {"name": "Clínica Renovada", "services": ["primary_care", "mental_health"],
            "languages": "es, quc", "capacity_total": "30", "timezone": "America/El_Salvador",
            "latitude": "13.6", "longitude": "-87.9", "accepts.minors": "yes",
            "active": "yes"}
    response = web.post(f"/admin/facilities/{clinic.id}", form)
    assert response.status_code == 302
    saved = db.session.get(Facility, clinic.id)
    assert saved.name == "Clínica Renovada" and saved.languages == ["es", "quc"]
    assert sorted(saved.services) == ["mental_health", "primary_care"]
    assert saved.capacity_total == 30 and saved.accepts_women_only is False
    web.post(f"/admin/facilities/{clinic.id}/capacity", {"capacity_available": "12"})
    assert db.session.get(Facility, clinic.id).capacity_available == 12


def test_a_wrong_facility_field_is_shown_next_to_it_and_nothing_changes(signed_in):
    clinic = FacilityFactory(name="Sin cambios")
    web = _admin(signed_in)
    web.get(f"/admin/facilities/{clinic.id}")
    response = web.post(f"/admin/facilities/{clinic.id}",
                        {"name": "Otro", "latitude": "300", "active": "yes"})
    assert response.status_code == 422
    assert 'id="latitude-error"' in response.get_data(as_text=True)
    assert db.session.get(Facility, clinic.id).name == "Sin cambios"


def test_the_key_page_lists_the_ring(signed_in):
    page = _admin(signed_in).get("/admin/keys").get_data(as_text=True)
    assert "<code>kek-" in page or "<code>" in page


def test_verifying_the_audit_chain_says_it_is_intact(signed_in):
    web = _admin(signed_in)
    web.get("/admin/audit")
    page = web.post("/admin/audit").get_data(as_text=True)
    assert 'id="verdict"' in page and "intacta" in page


def test_other_roles_have_no_admin_pages(signed_in):
    web = signed_in(UserFactory(manager=True))
    for path in ("/admin/users", "/admin/facilities", "/admin/keys", "/admin/audit"):
        assert web.get(path).status_code == 403, path
