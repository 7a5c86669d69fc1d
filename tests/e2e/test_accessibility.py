"""axe-core on every page a person reaches: no serious or critical violation."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.conftest import PHONE, TABLET, screenshot, set_offline_pin, sign_in

pytestmark = pytest.mark.slow
BLOCKING = {"serious", "critical"}


def _violations(page):
    found = Axe().run(page).response["violations"]
    return [f"{item['id']} ({item['impact']}): {item['help']} at "
            f"{[node['target'] for node in item['nodes']][:3]}"
            for item in found if item["impact"] in BLOCKING]


@pytest.mark.parametrize("viewport", [TABLET, PHONE], ids=["tablet", "phone"])
def test_promoter_pages(context_for, viewport):
    page = context_for(viewport).new_page()
    page.goto("/login")
    assert _violations(page) == []
    sign_in(page, "promoter")
    page.wait_for_selector("#pin-setup[open]")
    assert _violations(page) == [], "intake, asking for the offline PIN"
    set_offline_pin(page)
    assert _violations(page) == [], "intake"
    page.check("input[name='consent.data_collection']", force=True)
    page.check("input[name='consent.referral_sharing']", force=True)
    page.fill("#subject-age_estimate", "300")
    page.click("#save-intake")
    assert _violations(page) == [], "intake with errors"
    page.fill("#subject-age_estimate", "30")
    page.click("#save-intake")
    assert _violations(page) == [], "case"


def test_staff_pages(context_for):
    page = context_for(TABLET).new_page()
    sign_in(page, "staff")
    assert _violations(page) == [], "inbox"
    page.locator("ul.inbox a").first.click()
    page.wait_for_load_state()
    assert _violations(page) == [], "a referral"
    for path in ("/follow-ups", "/notifications"):
        page.goto(path)
        assert _violations(page) == [], path
        screenshot(page, f"staff{path.replace('/', '-')}-es-tablet")
    page.goto("/nothing-here")
    assert _violations(page) == [], "not found"


def test_manager_pages(context_for):
    page = context_for(TABLET).new_page()
    sign_in(page, "manager")
    assert _violations(page) == [], "dashboard"


def test_admin_pages(context_for):
    page = context_for(TABLET).new_page()
    sign_in(page, "admin")
    for path in ("/admin/users", "/admin/facilities", "/admin/keys", "/admin/audit"):
        page.goto(path)
        assert _violations(page) == [], path
        screenshot(page, f"admin{path.replace('/admin/', '-')}-es-tablet")
    page.click("text=Verificar la cadena ahora")
    assert "intacta" in page.inner_text("#verdict")
    page.goto("/admin/facilities")
    page.locator("table a").first.click()
    assert _violations(page) == [], "a facility"
