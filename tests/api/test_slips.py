"""The printable referral slip: what it shows, what it never shows, who may print it."""

import base64
import hashlib
import re
from datetime import UTC, datetime

import pytest
import segno
import sqlalchemy as sa

from referral.models import AuditEvent
from referral.services import pseudonyms
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    SubjectFactory,
    UserFactory,
)

CREATED = datetime(2026, 3, 10, 18, 30, tzinfo=UTC)
EXPIRES = datetime(2099, 1, 1, 0, 0, tzinfo=UTC)
# Values no slip may hold, distinctive enough that finding them anywhere is a leak.
PERSONAL = {"given_name": "Wilhelmina", "family_name": "Zyxcorvath", "birth_year": 1987,
            "phone": "+503 7777 4242", "nationality": "KZ"}
NOTES = "Nota reservada Quetzalcoatl"
REASON = "Motivo reservado Xochiquetzal"


@pytest.fixture
def world():
    """El Amatillo (SV, its own time zone) refers to a clinic; a confidential shelter."""
    post = BorderPostFactory(name="El Amatillo", timezone="America/El_Salvador")
    clinic = FacilityFactory(name="Clínica Santa Rosa de Lima", address="Calle Real 7",
                             admin_area="La Unión", services=["primary_care", "gbv_care"])
    shelter = FacilityFactory(name="Casa Esperanza", kind="shelter", confidential=True,
                              address="Pasaje Escondido 3", admin_area="Chalatenango",
                              services=["shelter", "gbv_care"])
    outsider = BorderPostFactory(name="La Hachadura")
    return {
        "post": post, "clinic": clinic, "shelter": shelter,
        "promoter": UserFactory(role="promoter", facility=post),
        "clinic_staff": UserFactory(role="facility_staff", facility=clinic),
        "clinic_promoter": UserFactory(role="promoter", facility=clinic),
        "shelter_staff": UserFactory(role="facility_staff", facility=shelter),
        "outsider_staff": UserFactory(role="facility_staff", facility=outsider),
    }


def refer(world, to="clinic", **extra):
    subject = SubjectFactory(**PERSONAL)
    case = CaseFactory(facility=world["post"], subject=subject, notes=NOTES,
                       needs=["gbv"], vulnerabilities=["gbv_survivor"])
    values = {"case": case, "to_facility": world[to], "services": ["gbv_care"],
              "urgency": "urgent", "reason": REASON, "created_at": CREATED,
              "expires_at": EXPIRES, **extra}
    return ReferralFactory(**values)


def slip(client, headers, referral):
    return client.get(f"/api/v1/referrals/{referral.id}/slip", headers=headers)


def test_the_slip_is_an_html_page_with_the_code_and_the_pseudonym(client, headers_for, world):
    referral = refer(world)
    response = slip(client, headers_for(world["promoter"]), referral)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert pseudonyms.display_slip_code(referral.code) in page
    assert pseudonyms.display(referral.case.subject.pseudonym) in page
    assert "Clínica Santa Rosa de Lima" in page
    # What the person needs stays off the paper: sensitive services read as health care.
    assert "Atención de salud" in page and "Health care" in page
    assert "violencia" not in page.lower() and "Gender-based" not in page
    assert "Urgente" in page
    # Times in the sending post's zone (UTC-6), not the server's.
    assert "10/03/2026 12:30" in page and "31/12/2098 18:00" in page
    assert "America/El_Salvador" in page


def test_times_are_in_utc_when_the_sending_facility_has_no_time_zone(client, headers_for,
                                                                     world):
    world["post"].timezone = None
    response = slip(client, headers_for(world["promoter"]), refer(world))
    page = response.get_data(as_text=True)
    assert "10/03/2026 18:30" in page and "01/01/2099 00:00" in page and "UTC" in page


def qr_modules(page: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) drawn by the page's inline SVG QR code."""
    svg = re.search(r"<svg[^>]*>.*?</svg>", page, re.DOTALL)[0]
    path = re.search(r' d="([^"]+)"', svg)[1]
    assert "transform" not in svg  # one unit per module, as drawn below
    dark, x, y = set(), 0.0, 0.0
    for op, args in re.findall(r"([A-Za-z])([^A-Za-z]*)", path):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif op == "h":
            dark.update((int(y), int(x) + i) for i in range(int(numbers[0])))
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {op}")
    return dark


def qr_candidates(text: str):
    """Every standard QR code of `text`, whatever its error level and mask."""
    for error in "lmqh":
        for mask in range(8):
            qr = segno.make_qr(text, error=error, mask=mask, boost_error=False)
            yield {(r, c) for r, row in enumerate(qr.matrix_iter(border=4))
                   for c, bit in enumerate(row) if bit}


def test_the_qr_code_holds_exactly_the_slip_code(client, headers_for, world):
    referral, other = refer(world), refer(world)
    page = slip(client, headers_for(world["promoter"]), referral).get_data(as_text=True)
    drawn = qr_modules(page)
    code = pseudonyms.display_slip_code(referral.code)
    assert any(drawn == modules for modules in qr_candidates(code))
    # The comparison tells codes apart: another referral's code, or the bare code, differ.
    assert not any(drawn == modules for modules in
                   qr_candidates(pseudonyms.display_slip_code(other.code)))
    assert not any(drawn == modules for modules in qr_candidates(referral.code))


def test_the_slip_holds_no_personal_data_even_when_everything_is_shared(client, headers_for,
                                                                        world):
    referral = refer(world, share="full")
    codes = (pseudonyms.display_slip_code(referral.code),
             pseudonyms.display(referral.case.subject.pseudonym))
    for user in ("promoter", "clinic_staff"):
        page = slip(client, headers_for(world[user]), referral).get_data(as_text=True)
        for code in codes:  # random codes could hold "1987" or "KZ" by chance
            assert code in page
            page = page.replace(code, "")
        for value in ("Wilhelmina", "Zyxcorvath", "1987", "+503 7777 4242", "50377774242",
                      "Quetzalcoatl", "Xochiquetzal"):
            assert value not in page, (user, value)
        assert "KZ" not in page, user


def test_a_confidential_facility_is_neither_named_nor_located(client, headers_for, world):
    normal = slip(client, headers_for(world["promoter"]), refer(world)).get_data(as_text=True)
    assert "Calle Real 7" in normal and "La Unión" in normal and "Clínica" in normal

    referral = refer(world, to="shelter")
    # Not even the sender, nor the shelter's own staff: the slip travels in a pocket.
    for user in ("promoter", "shelter_staff"):
        response = slip(client, headers_for(world[user]), referral)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Casa Esperanza" not in page, user
        assert "el personal le indicará cómo llegar" in page
        assert "Pasaje Escondido" not in page and "Chalatenango" not in page, user
        assert "Albergue" not in page and "Shelter" not in page, user  # nor what it is


def test_the_receiving_staff_may_print_the_slip(client, headers_for, world):
    referral = refer(world, status="accepted")
    response = slip(client, headers_for(world["clinic_staff"]), referral)
    assert response.status_code == 200
    assert pseudonyms.display_slip_code(referral.code) in response.get_data(as_text=True)


@pytest.mark.parametrize("user", ["outsider_staff", "clinic_promoter", "shelter_staff"])
def test_anyone_else_gets_404(client, headers_for, world, user):
    response = slip(client, headers_for(world[user]), refer(world))
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "not found"}}


def test_an_unknown_referral_is_404(client, headers_for, world):
    response = client.get("/api/v1/referrals/00000000-0000-4000-8000-000000000000/slip",
                          headers=headers_for(world["promoter"]))
    assert response.status_code == 404


@pytest.mark.parametrize("trait", ["manager", "admin"])
def test_managers_and_admins_are_refused(client, headers_for, world, trait):
    response = slip(client, headers_for(UserFactory(**{trait: True})), refer(world))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_without_credentials_it_is_401(client, world):
    assert slip(client, {}, refer(world)).status_code == 401


@pytest.mark.parametrize("status", ["declined", "cancelled", "expired", "completed"])
def test_a_closed_referral_has_no_slip(client, headers_for, world, status):
    response = slip(client, headers_for(world["promoter"]), refer(world, status=status))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


def test_a_pending_referral_past_its_deadline_has_no_slip(client, headers_for, world):
    late = refer(world, expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert slip(client, headers_for(world["promoter"]), late).status_code == 409


def test_the_page_cannot_run_scripts_nor_be_cached(client, headers_for, world):
    response = slip(client, headers_for(world["promoter"]), refer(world))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    page = response.get_data(as_text=True)
    assert "<script" not in page.lower()
    # The page's own stylesheet is allowed by its hash, so the print layout applies.
    css = re.search(r"<style>(.*?)</style>", page, re.DOTALL)[1]
    assert "@page" in css and "A6" in css
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy


def test_printing_a_slip_is_audited_without_personal_values(client, headers_for, world,
                                                            session):
    referral = refer(world)
    assert slip(client, headers_for(world["promoter"]), referral).status_code == 200
    events = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "referral_slip_printed")).all()
    assert [(e.object_id, e.actor, e.detail) for e in events] == [
        (str(referral.id), world["promoter"].username, {"case_id": str(referral.case_id)})]


def test_openapi_says_the_slip_is_html(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    answer = spec["paths"]["/api/v1/referrals/{referral_id}/slip"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/html"]
