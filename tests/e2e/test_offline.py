"""Offline intake: made with no connection, kept encrypted, sent once when it returns."""

import json
import secrets

import pytest

from referral.extensions import db
from referral.models import Case, Referral, Subject
from tests.e2e.conftest import OFFLINE_PIN, TABLET, screenshot, set_offline_pin, sign_in

pytestmark = pytest.mark.slow
NAME = f"Xiomara{secrets.token_hex(3)}"  # no synthetic person has it
OTHER_NAME = f"Yolanda{secrets.token_hex(3)}"

RAW_QUEUE = """async () => {
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open("referral-offline");
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  const dump = async (store) => new Promise((ok) => {
    const request = db.transaction(store).objectStore(store).getAll();
    request.onsuccess = () => ok(request.result);
  });
  const bytes = (value) => value instanceof ArrayBuffer || ArrayBuffer.isView(value)
    ? Array.from(new Uint8Array(value.buffer || value)) : value;
  const plain = (value) => JSON.parse(JSON.stringify(value, (key, v) => bytes(v)));
  return { queue: plain(await dump("queue")), pins: plain(await dump("pins")) };
}"""


def _waiting(page):
    return page.inner_text("#offline [data-waiting]")


def _server_counts(app, name=NAME):
    """(cases, referrals) of the people with this given name, on the server."""
    with app.app_context():
        subjects = [s for s in db.session.query(Subject) if s.given_name == name]
        cases = db.session.query(Case).filter(
            Case.subject_id.in_([s.id for s in subjects])).all()
        referrals = db.session.query(Referral).filter(
            Referral.case_id.in_([c.id for c in cases])).count()
        db.session.remove()
        return len(cases), referrals


def _offline_tablet(context_for):
    """A promoter signed in with a PIN set, once the worker has kept the intake page and
    the directory, and then the connection gone."""
    context = context_for(TABLET)
    page = context.new_page()
    sign_in(page, "promoter")
    set_offline_pin(page)
    page.wait_for_function("""async () => Boolean(await caches.match("/intake")
        && await caches.match("/api/v1/facilities?per_page=200&page=1"))""")
    context.set_offline(True)
    return context, page


def test_an_offline_intake_and_referral_wait_encrypted_and_sync_once(context_for,
                                                                      live_server):
    context, page = _offline_tablet(context_for)
    syncs = []
    page.on("request", lambda request: syncs.append(request.url)
            if request.url.endswith("/api/v1/sync") else None)
    page.fill("#subject-given_name", NAME)
    page.fill("#subject-family_name", "Offline")
    page.check("input[name='consent.data_collection']", force=True)
    page.check("input[name='consent.referral_sharing']", force=True)
    page.check("input[name='needs'][value='injury']", force=True)
    page.click("#save-intake")
    page.wait_for_selector("#offline-saved:not([hidden])")
    page.wait_for_function(
        "() => document.querySelector('#offline [data-waiting]').textContent.includes('1')")
    screenshot(page, "offline-saved-es-tablet")
    page.locator("#offline-saved [data-options] button").first.click()
    page.wait_for_function(
        "() => document.querySelector('#offline [data-waiting]').textContent.includes('2')")

    raw = page.evaluate(RAW_QUEUE)
    assert len(raw["queue"]) == 2
    stored = json.dumps(raw)
    assert "Xiomara" not in stored and "Offline" not in stored and OFFLINE_PIN not in stored
    assert all(set(item["sealed"]) == {"iv", "data"} for item in raw["queue"])

    page.reload()  # still offline: the worker serves the kept page
    page.wait_for_selector("#pin-unlock[open]")
    page.fill("#pin-enter", "000000")
    page.click("#pin-unlock button.primary")
    page.wait_for_selector("#pin-unlock [data-pin-error]:not(:empty)")
    assert "incorrecto" in page.inner_text("#pin-unlock [data-pin-error]")
    page.fill("#pin-enter", OFFLINE_PIN)
    page.click("#pin-unlock button.primary")
    assert _server_counts(live_server.app) == (0, 0)
    assert syncs == []

    context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('#offline [data-waiting]').textContent.includes('Nada')")
    assert _server_counts(live_server.app) == (1, 1)
    assert page.evaluate(RAW_QUEUE)["queue"] == []  # nothing left on the tablet
    page.reload()
    page.wait_for_selector("#offline:not([hidden])")
    assert _server_counts(live_server.app) == (1, 1)
    assert len(syncs) == 1
    screenshot(page, "offline-synced-es-tablet")


def test_a_closed_tab_and_an_ended_session_lose_nothing(context_for, live_server):
    context, page = _offline_tablet(context_for)
    page.fill("#subject-given_name", OTHER_NAME)
    page.check("input[name='consent.data_collection']", force=True)
    page.click("#save-intake")
    page.wait_for_selector("#offline-saved:not([hidden])")
    page.close()

    page = context.new_page()  # the tab closed and opened again, still offline
    page.goto("/intake")
    page.wait_for_selector("#pin-unlock[open]")
    page.fill("#pin-enter", OFFLINE_PIN)
    page.click("#pin-unlock button.primary")
    page.wait_for_selector("#pin-unlock:not([open])", state="attached")
    assert "1" in _waiting(page)

    context.clear_cookies()  # the session ended while the tablet was away
    context.set_offline(False)
    page.wait_for_selector("#offline [data-needs-sign-in]:not([hidden])")
    assert _server_counts(live_server.app, OTHER_NAME) == (0, 0)
    screenshot(page, "offline-sign-in-again-es-tablet")

    page.click("#offline [data-needs-sign-in] a")
    page.fill("#username", "promotor.amatillo")
    page.fill("#password", "e2e-password-long-enough")
    page.click("button.primary")
    page.wait_for_selector("#pin-unlock[open]")  # the PIN again, not a new one
    page.fill("#pin-enter", OFFLINE_PIN)
    page.click("#pin-unlock button.primary")
    page.wait_for_function(
        "() => document.querySelector('#offline [data-waiting]').textContent.includes('Nada')")
    assert _server_counts(live_server.app, OTHER_NAME) == (1, 0)
