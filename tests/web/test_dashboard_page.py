"""The managers' dashboard: charts and tables of published statistics only."""

import base64
import html as markup
import random
import re
from datetime import UTC, datetime

import pytest

from referral.blueprints.web import dashboard as dashboard_view
from referral.extensions import db
from referral.models import AuditEvent
from tests.factories import BorderPostFactory, CaseFactory, ReferralFactory, UserFactory

NOW = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(dashboard_view, "now", lambda: NOW)


@pytest.fixture
def summer(session):
    """July and August 2026 at two busy posts, and three people at a quiet one in July."""
    rng = random.Random(3)
    busy = [BorderPostFactory(code="BP-SV-EL-AMATILLO"), BorderPostFactory(code="BP-GT-TECUN")]
    quiet = BorderPostFactory(code="BP-NI-QUIET")
    for month in (7, 8):
        for index in range(40):
            case = CaseFactory(facility=rng.choice(busy), needs=[rng.choice(["injury", "shelter"])],
                               created_at=datetime(2026, month, 1 + index % 28, 9, tzinfo=UTC))
            if index % 2:
                ReferralFactory(case=case, status="completed" if index % 4 == 1 else "pending",
                                created_at=case.created_at)
    for day in (3, 4, 5):
        CaseFactory(facility=quiet, created_at=datetime(2026, 7, day, 9, tzinfo=UTC))
    return busy, quiet


def test_a_manager_sees_three_charts_with_rare_counts_suppressed(signed_in, summer):
    web = signed_in(UserFactory(manager=True))
    response = web.get("/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', page)
    assert len(images) == 3 and all(alt for _, alt in images)
    svg = base64.b64decode(images[0][0]).decode()
    assert "BP-SV-EL-AMATILLO" in svg and "Todos los puestos" in svg and "<script" not in svg
    row = re.search(r"BP-NI-QUIET</th>(.*?)</tr>", page, re.S).group(1)
    assert "&lt;5" in row and ">3<" not in row  # three people at the quiet post: hidden
    assert "2026-07" in page and "2026-08" in page
    assert page.count("Oculto para proteger a las personas") == 3


def test_the_downloads_are_the_same_tables_as_the_api(signed_in, summer):
    web = signed_in(UserFactory(manager=True))
    page = web.get("/dashboard").get_data(as_text=True)
    links = [markup.unescape(link) for link in re.findall(r'href="(/api/v1/stats\?[^"]+)"', page)]
    assert len(links) == 6
    csv = web.client.get(next(link for link in links if "format=csv" in link))
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    xlsx = web.client.get(next(link for link in links if "format=xlsx" in link))
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_every_table_the_dashboard_reads_is_audited(signed_in, summer):
    user = UserFactory(manager=True)
    web = signed_in(user)  # lands on the dashboard
    before = db.session.query(AuditEvent).filter_by(action="stats_exported").count()
    web.get("/dashboard")
    events = db.session.query(AuditEvent).filter_by(action="stats_exported").all()
    assert len(events) - before == 3 and {event.actor_id for event in events} == {user.id}


def test_only_managers_and_admins_see_it(signed_in, summer):
    assert signed_in(UserFactory()).get("/dashboard").status_code == 403
    assert signed_in(UserFactory(admin=True)).get("/dashboard").status_code == 200


def test_with_no_finished_month_of_data_it_says_so(signed_in):
    page = signed_in(UserFactory(manager=True)).get("/dashboard").get_data(as_text=True)
    assert "<img" not in page
