"""GET /stats: published tables per finished period, for managers and admins, audited."""

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from referral.blueprints.api import stats as stats_view
from referral.extensions import db
from referral.models import AuditEvent, StatsRelease
from tests.factories import BorderPostFactory, CaseFactory, ReferralFactory, UserFactory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(stats_view, "now", lambda: NOW)


@pytest.fixture
def two_months(session):
    """July and August 2026 at two posts: Hondurans and Guatemalans, one Cameroonian."""
    rng = random.Random(7)
    posts = [BorderPostFactory(code="BP-SV-EL-AMATILLO"), BorderPostFactory(code="BP-GT-X")]
    for month in (7, 8):
        for index in range(30):
            nationality = "CM" if (month, index) == (7, 0) else rng.choice(["HN", "GT"])
            CaseFactory(facility=rng.choice(posts), nationality=nationality,
                        subject__nationality=nationality, sex=rng.choice(["female", "male"]),
                        created_at=datetime(2026, month, 1 + index % 28, 9, tzinfo=UTC))
    # A case this month: its period has not finished and must not be published.
    CaseFactory(facility=posts[0], created_at=datetime(2026, 11, 2, tzinfo=UTC))
    return posts


@pytest.fixture
def manager(session, headers_for):
    user = UserFactory(manager=True)
    return user, headers_for(user)


def get(client, headers, **query):
    return client.get("/api/v1/stats", query_string=query, headers=headers)


def test_a_manager_gets_a_month_table_with_the_rare_person_suppressed(
        client, manager, two_months):
    response = get(client, manager[1], group_by="nationality", **{"from": "2026-07-15",
                                                                    "to": "2026-08-03"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["range"] == {"from": "2026-07-01", "to": "2026-08-31"}  # snapped outward
    assert body["periods"] == ["2026-07", "2026-08"]
    assert (body["metric"], body["period"], body["group_by"], body["k"]) == (
        "cases", "month", ["nationality"], 5)
    july = {row["nationality"]: row for row in body["rows"] if row["period"] == "2026-07"}
    assert july["CM"] == {"period": "2026-07", "nationality": "CM", "count": None,
                          "suppressed": True}
    for row in body["rows"]:
        assert row["count"] is None or row["count"] >= 5
    assert body["totals"] == [{"period": "2026-07", "count": 30},
                              {"period": "2026-08", "count": 30}]
    august = {row["nationality"] for row in body["rows"] if row["period"] == "2026-08"}
    assert "CM" not in august  # an unlisted combination is 0


def test_unfinished_periods_are_left_out_and_the_default_range_ends_last_month(
        client, manager, two_months):
    body = get(client, manager[1], **{"from": "2026-07", "to": "2026-12"}).get_json()
    assert body["periods"] == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert body["range"] == {"from": "2026-07-01", "to": "2026-12-31"}
    assert body["totals"][2:] == [{"period": "2026-09", "count": 0},
                                  {"period": "2026-10", "count": 0}]
    running = get(client, manager[1], **{"from": "2026-11"}).get_json()
    assert running["periods"] == [] and running["rows"] == [] and running["totals"] == []
    assert running["range"] == {"from": "2026-11-01", "to": "2026-11-30"}
    default = get(client, manager[1], period="quarter").get_json()
    assert default["periods"] == ["2026-Q3"]  # Q4 has not finished
    assert default["totals"] == [{"period": "2026-Q3", "count": 60}]


def test_facilities_are_named_by_code_never_by_id(client, manager, two_months):
    body = get(client, manager[1], group_by="intake_facility").get_json()
    named = {row["intake_facility"] for row in body["rows"]}
    assert named <= {"BP-SV-EL-AMATILLO", "BP-GT-X"} and named


def test_a_finished_period_is_released_on_first_request_and_only_once(
        client, manager, two_months):
    count = sa.select(sa.func.count()).select_from(StatsRelease)
    assert db.session.scalar(count) == 0
    first = get(client, manager[1], group_by="sex", **{"from": "2026-07", "to": "2026-07"})
    # The month, and the five parts of weeks inside July it is made of.
    assert db.session.scalar(count) == 1 + 5
    second = get(client, manager[1], group_by="sex", **{"from": "2026-07", "to": "2026-07"})
    assert db.session.scalar(count) == 1 + 5
    assert first.get_json()["rows"] == second.get_json()["rows"]


def test_every_request_is_audited_with_the_table_and_range_but_no_values(
        client, manager, two_months):
    user, headers = manager
    get(client, headers, group_by="nationality,sex", format="csv",
        **{"from": "2026-07", "to": "2026-08"})
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "stats_exported")).one()
    assert event.actor_id == user.id
    assert event.detail == {"metric": "cases", "period": "month",
                            "group_by": ["nationality", "sex"], "format": "csv",
                            "from": "2026-07", "to": "2026-08", "periods": 2}


@pytest.mark.parametrize("role", ["promoter", "facility_staff"])
def test_only_managers_and_admins_read_statistics(client, headers_for, session, role):
    assert get(client, headers_for(UserFactory(role=role))).status_code == 403
    assert get(client, {}).status_code == 401
    assert get(client, headers_for(UserFactory(admin=True))).status_code == 200


@pytest.mark.parametrize(("query", "field"), [
    ({"group_by": "nationality,passport"}, "group_by"),
    ({"metric": "people"}, "metric"),
    ({"period": "fortnight"}, "period"),
    ({"group_by": "sex,age_band,need,urgency"}, "group_by"),
    ({"group_by": "sex,sex"}, "group_by"),
    ({"group_by": "service"}, "group_by"),  # a referral dimension with metric=cases
    ({"metric": "cases", "group_by": "referral_status"}, "group_by"),
    ({"from": "2026-13"}, "from"),
    ({"from": "July"}, "from"),
    ({"to": "2026-02-30"}, "to"),
    ({"from": "2026-08", "to": "2026-07"}, "to"),
    ({"format": "pdf"}, "format"),
    ({"migration_status": "irregular"}, "migration_status"),
])
def test_bad_input_is_422_with_the_field_named(client, manager, query, field):
    response = get(client, manager[1], **query)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"], error


def test_a_referral_dimension_is_fine_with_metric_referrals(client, manager, two_months):
    response = get(client, manager[1], metric="referrals", group_by="service,referral_status")
    assert response.status_code == 200


def test_information_loss_comes_from_the_published_figures(client, manager, two_months):
    body = get(client, manager[1], group_by="nationality",
               **{"from": "2026-07", "to": "2026-08"}).get_json()
    suppressed = [row for row in body["rows"] if row["count"] is None]
    assert body["hidden"]["cells"] == pytest.approx(len(suppressed) / len(body["rows"]))
    published = sum(row["count"] or 0 for row in body["rows"])
    assert body["hidden"]["people"] == pytest.approx((60 - published) / 60)
    needs = get(client, manager[1], group_by="need").get_json()
    assert needs["hidden"]["people"] is None  # cells of a multi-valued table do not add up


def test_csv_and_xlsx_hold_the_json_rows_with_suppressed_cells_as_less_than_k(
        client, manager, two_months):
    query = {"group_by": "nationality,sex", "from": "2026-07", "to": "2026-08"}
    body = get(client, manager[1], **query).get_json()
    expected = [[row["period"], row["nationality"], row["sex"],
                 "<5" if row["count"] is None else str(row["count"])] for row in body["rows"]]
    assert any(row[-1] == "<5" for row in expected)

    response = get(client, manager[1], format="csv", **query)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == ["period", "nationality", "sex", "count"]
    assert table[1:] == expected

    response = get(client, manager[1], format="xlsx", **query)
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book["statistics"]
    rows = [[str(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["period", "nationality", "sex", "count"] and rows[1:] == expected
    assert sheet.freeze_panes == "B2"
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["from"] == "2026-07-01" and about["to"] == "2026-08-31"
    assert about["k"] == 5 and "1 to 4" in about["rule"]


def test_a_quarter_by_referral_status_lists_every_status_suppressed_and_says_why(
        client, manager, session):
    post = BorderPostFactory(code="BP-SV-EL-AMATILLO")
    for month in (7, 8, 9):
        for index in range(8):
            at = datetime(2026, month, 2 + index, 9, tzinfo=UTC)
            case = CaseFactory(facility=post, nationality="HN", subject__nationality="HN",
                               created_at=at)
            ReferralFactory(case=case, created_at=at, status="completed",
                            responded_at=at + timedelta(days=1),
                            completed_at=at + timedelta(days=2),
                            closed_at=at + timedelta(days=2))
    query = {"metric": "referrals", "period": "quarter", "group_by": "nationality,referral_status",
             "from": "2026-07", "to": "2026-09"}
    body = get(client, manager[1], **query).get_json()
    # 24 referrals, all completed, and still: each status listed, none shown.
    assert sorted(row["referral_status"] for row in body["rows"]) == sorted(
        ["pending", "accepted", "declined", "expired", "cancelled", "completed", "no_show"])
    assert all(row["count"] is None and row["suppressed"] for row in body["rows"])
    # A month lists only the statuses that occur: here, all completed.
    month = get(client, manager[1], **{**query, "period": "month"}).get_json()
    assert [(row["period"], row["referral_status"]) for row in month["rows"]] == [
        ("2026-07", "completed"), ("2026-08", "completed"), ("2026-09", "completed")]
    book = load_workbook(io.BytesIO(get(client, manager[1], format="xlsx", **query).get_data()))
    about = dict(book["about"].iter_rows(values_only=True))
    assert "follow from those at the end of its months" in about["referral status"]
    monthly = load_workbook(io.BytesIO(get(client, manager[1], format="xlsx",
                                           **{**query, "period": "month"}).get_data()))
    assert "referral status" not in dict(monthly["about"].iter_rows(values_only=True))
