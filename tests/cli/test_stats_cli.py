"""`flask stats export` (API.md, command line); `stats release` is in test_stats_release."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from referral.extensions import db
from referral.models import AuditEvent
from tests.factories import BorderPostFactory, CaseFactory


@pytest.fixture
def july(session):
    """July 2026 (finished by any clock this suite runs on): 24 cases, one Cameroonian."""
    post = BorderPostFactory()
    for n in range(24):
        nationality = "CM" if n == 0 else ("HN", "GT")[n % 2]
        CaseFactory(facility=post, nationality=nationality, subject__nationality=nationality,
                    created_at=datetime(2026, 7, 1 + n, 8, tzinfo=UTC))
    db.session.commit()


def flask(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_export_writes_the_csv_of_get_stats_and_audits_it(app, july):
    result = flask(app, "stats", "export", "--group-by", "nationality", "--from", "2026-07",
                   "--to", "2026-07", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["period", "nationality", "count"]
    assert ["2026-07", "CM", "<5"] in rows
    assert ["2026-07", "GT", "12"] in rows
    # Hondurans (11) hidden too: with the total of 24 published, 24 - 12 - 11 = 1.
    assert ["2026-07", "HN", "<5"] in rows
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "stats_exported")).one()
    assert event.actor_id is None
    assert event.detail["group_by"] == ["nationality"] and event.detail["format"] == "csv"


def test_export_json_and_xlsx_to_a_file(app, july, tmp_path):
    result = flask(app, "stats", "export", "--group-by", "sex", "--from", "2026-07",
                   "--to", "2026-07", "--format", "json")
    body = json.loads(result.output)
    assert body["range"] == {"from": "2026-07-01", "to": "2026-07-31"}
    assert body["totals"] == [{"period": "2026-07", "count": 24}]
    out = tmp_path / "report.xlsx"
    result = flask(app, "stats", "export", "--group-by", "sex", "--from", "2026-07",
                   "--to", "2026-07", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert [row[0].value for row in book["statistics"].iter_rows()][0] == "period"
    assert book.sheetnames == ["statistics", "about"]


@pytest.mark.parametrize(("args", "message"), [
    (["--group-by", "passport"], "--group-by: Unknown dimension 'passport'"),
    (["--metric", "people"], "--metric: "),
    (["--from", "2026-08", "--to", "2026-07"], "--to: Ends before `from` begins."),
    (["--format", "pdf"], "--format: "),
])
def test_export_refuses_bad_input_in_one_line_naming_the_option(app, args, message):
    result = flask(app, "stats", "export", *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), lines


def test_a_release_leaves_the_planner_counting_the_new_cells_on_postgresql(app, july):
    # Until the planner's statistics are refreshed, it reads one table of a release by
    # scanning every cell of its metric (34 ms instead of 1 ms at a million cases).
    if db.engine.dialect.name != "postgresql":
        pytest.skip("planner statistics (ANALYZE) are PostgreSQL's")
    result = flask(app, "stats", "release", "--period", "month")
    assert result.exit_code == 0, result.output
    stored = db.session.scalar(sa.text("SELECT count(*) FROM stats_cells"))
    planned = db.session.scalar(sa.text(
        "SELECT reltuples FROM pg_class WHERE relname = 'stats_cells'"))
    assert stored > 100 and planned == stored

