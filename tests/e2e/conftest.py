"""Browser tests: a real headless Chromium against the app served on 127.0.0.1.

The server runs in a thread of the test process, on a database of its own (a SQLite file,
or a scratch PostgreSQL database when the suite runs on PostgreSQL), with the demo's
directory and accounts. Screenshots land in tests/e2e/screenshots/ (not committed).
"""

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from werkzeug.serving import make_server

from referral import create_app
from referral.extensions import db
from referral.services import auth, demo, stats
from tests.conftest import TEST_DATABASE_URL, scratch_database, test_config

CHROMIUM = os.environ.get("REFERRAL_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "e2e-password-long-enough"
OFFLINE_PIN = "246810"
HISTORY_POSTS = ("BP-SV-EL-AMATILLO", "BP-GT-TECUN-UMAN")
HISTORY_CASES = 60  # a month, at the two posts
TABLET = {"width": 800, "height": 1280}
PHONE = {"width": 360, "height": 740}
USERS = {"promoter": "promotor.amatillo", "staff": "clinica.santarosa", "manager": "gerente",
         "admin": "admin"}


class Server(NamedTuple):
    url: str
    app: object


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install the Debian packages chromium and "
                    "chromium-driver (.ci/run does) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(chromium, tmp_path_factory, keyring_path):
    """The app on http://127.0.0.1:<port>, with the demo's directory and accounts."""
    with _database(tmp_path_factory) as url:
        app = create_app(test_config(url, keyring_path))
        with app.app_context():
            db.create_all()
            demo.import_directory(db.session, datetime.now(UTC))
            for spec in demo.USERS:
                auth.create_user(db.session, spec.username, PASSWORD, spec.role,
                                 spec.facility_code)
            db.session.commit()
            _history(datetime.now(UTC))
            stats.release_all(db.session, now=datetime.now(UTC), k=5, kinds=("month",),
                              between=db.session.commit)
            db.session.commit()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield Server(f"http://127.0.0.1:{server.server_port}", app)
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


def _history(now):
    """Two finished months of cases at two posts, some referred, for the managers' charts."""
    import random

    from referral.models import Facility
    from tests.factories import CaseFactory, ReferralFactory

    rng = random.Random(6)
    posts = db.session.query(Facility).filter(Facility.code.in_(HISTORY_POSTS)).all()
    clinic = db.session.query(Facility).filter_by(code="CL-SV-SANTA-ROSA-DE-LIMA").one()
    this_month = now.replace(day=1, hour=9, minute=0, second=0, microsecond=0)
    for back in (1, 2):
        start = (this_month - timedelta(days=28 * back)).replace(day=1)
        for index in range(HISTORY_CASES):
            at = start + timedelta(days=index % 27, hours=index % 7)
            case = CaseFactory(facility=rng.choice(posts), created_at=at,
                               needs=[rng.choice(["injury", "acute_illness", "shelter"])])
            if index % 3 == 0:
                status = rng.choice(["completed", "completed", "declined"])
                ReferralFactory(case=case, to_facility=clinic, created_at=at,
                                services=["primary_care"], status=status,
                                responded_at=at + timedelta(hours=2),
                                completed_at=at + timedelta(hours=30)
                                if status == "completed" else None,
                                closed_at=at + timedelta(hours=30))
    db.session.commit()


def _database(tmp_path_factory):
    if TEST_DATABASE_URL.startswith("postgres"):
        return scratch_database(TEST_DATABASE_URL, "referral_e2e")
    from contextlib import nullcontext

    return nullcontext(f"sqlite:///{tmp_path_factory.mktemp('e2e')}/e2e.sqlite3")


class _Failures(logging.Handler):
    """Unhandled errors, and requests that got an error page no page should cause."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(self.format(record))


@pytest.fixture(autouse=True)
def no_server_failures():
    """A page that failed on the server fails its test, with the frames (never values)."""
    catcher = _Failures()
    logger = logging.getLogger("referral")
    logger.addHandler(catcher)
    yield
    logger.removeHandler(catcher)
    assert not catcher.records, "\n".join(catcher.records)


@pytest.fixture
def context_for(chromium, live_server):
    """A new browser context (its own cookies and storage) at a viewport size."""
    made = []

    refused = []

    def watch(page):
        # A script, style or image the Content-Security-Policy blocked: a broken page.
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)

    def make(viewport=TABLET, **options):
        context = chromium.new_context(viewport=viewport, base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        context.on("page", watch)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not refused, refused


def sign_in(page, who: str):
    page.goto("/login")
    page.fill("#username", USERS[who])
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()


def set_offline_pin(page, pin=OFFLINE_PIN):
    """Answer the PIN dialog a promoter gets on a tablet that has none yet."""
    page.wait_for_selector("#pin-setup[open]")
    page.fill("#pin-new", pin)
    page.fill("#pin-again", pin)
    page.click("#pin-setup button.primary")
    page.wait_for_selector("#pin-setup:not([open])", state="attached")


def screenshot(page, name: str):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
