"""Statistics releases: computed once per finished period, protected, never changed."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral import jobs
from referral.extensions import db
from referral.models import AuditEvent, StatsCell, StatsRelease
from referral.services import aggregates, disclosure, periods, stats
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    SubjectFactory,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
K = 5


@pytest.fixture
def quarter_of_cases(session):
    """Q3 2026 at two posts: many common people and a few rare ones."""
    rng = random.Random(3)
    posts = [BorderPostFactory(country="SV"), BorderPostFactory(country="GT")]
    for month in (7, 8, 9):
        for index in range(40):
            rare = index < 2  # one or two people of a rare nationality each month
            subject = SubjectFactory(nationality="CM" if rare else rng.choice(["HN", "GT"]),
                                     sex=rng.choice(["female", "male"]))
            at = datetime(2026, month, 1 + index % 28, 10, tzinfo=UTC)
            case = CaseFactory(facility=rng.choice(posts), subject=subject, created_at=at,
                               needs=rng.sample(["injury", "gbv", "shelter"], 1))
            if index % 3 == 0:
                ReferralFactory(case=case, created_at=at, status="completed",
                                responded_at=at + timedelta(days=1),
                                completed_at=at + timedelta(days=2),
                                closed_at=at + timedelta(days=2))


@pytest.fixture
def busy_quarter(session):
    """Q3 2026 at one post, five people a day (so even a one-day part publishes its
    totals), each referred and seen within hours; a person of a rare nationality twice a
    month."""
    post, clinic = BorderPostFactory(country="GT"), FacilityFactory(country="GT")
    day = datetime(2026, 7, 1, 9, tzinfo=UTC)
    while day.month <= 9:
        for index in range(5):
            rare = day.day in (7, 21) and index == 0
            subject = SubjectFactory(nationality="CM" if rare else "HN",
                                     sex="female" if day.day % 2 else "male")
            case = CaseFactory(facility=post, subject=subject, created_at=day,
                               needs=["injury"])
            ReferralFactory(case=case, to_facility=clinic, created_at=day, status="completed",
                            responded_at=day + timedelta(hours=1),
                            completed_at=day + timedelta(hours=3),
                            closed_at=day + timedelta(hours=3))
        day += timedelta(days=1)


def published(release):
    rows = db.session.execute(sa.select(StatsCell.metric, StatsCell.dimensions,
                                        StatsCell.coordinates, StatsCell.count)
                              .where(StatsCell.release_id == release.id)).all()
    return {(m, d, c): n for m, d, c, n in rows}


def test_a_month_is_released_once_with_no_small_count_published(quarter_of_cases):
    july = periods.from_key("month", "2026-07")
    made, fresh = stats.release(db.session, july, now=NOW, k=K)
    assert fresh and made.cells > 0 and made.hidden_cells > 0
    cells = published(made)
    assert all(count is None or count == 0 or count >= K for count in cells.values())
    # The rare nationality is hidden, not published.
    assert cells[("cases", "nationality", json.dumps(["CM"]))] is None
    again, fresh_again = stats.release(db.session, july, now=NOW, k=K)
    assert (again.id, fresh_again) == (made.id, False)
    # Its parts (the days of each ISO week inside July) were released first, once.
    releases = db.session.scalars(sa.select(StatsRelease))
    assert sorted((r.period, r.period_key) for r in releases) == [
        ("month", "2026-07"), ("part", "2026-07-01"), ("part", "2026-07-06"),
        ("part", "2026-07-13"), ("part", "2026-07-20"), ("part", "2026-07-27")]


def test_a_month_whose_metrics_were_protected_side_by_side_is_the_same_release(
        quarter_of_cases, monkeypatch):
    # A large release protects its metrics in processes of their own
    # (disclosure.protect_each), its parts' and its month's joint audit alike: it must be
    # the release one process makes.
    july = periods.from_key("month", "2026-07")
    alone = published(stats.release(db.session, july, now=NOW, k=K)[0])
    sent = []

    class Pool(disclosure.ProcessPoolExecutor):
        def submit(self, fn, job):
            sent.append(len(job["frozen"]) > 0)  # a month's joint audit freezes its parts
            return super().submit(fn, job)

    monkeypatch.setattr(disclosure, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(disclosure, "SIDE_BY_SIDE", 1)
    monkeypatch.setattr(disclosure.os, "sched_getaffinity", lambda pid: {0, 1})
    stats.rerelease(db.session, [july], now=NOW, k=K)
    assert sorted(sent) == [False] * 5 + [True]  # five parts, then the month
    again = published(stats.find(db.session, july))
    assert again == alone and None in alone.values() and any(alone.values())


def adds_up(period, joint=None):
    """Checks that a released week, quarter or year publishes only what its parts'
    releases give: a cell is hidden exactly when it is small or one of its parts was
    hidden, and a published one is the sum of its parts' published counts. A month's
    joint audit may publish more: a published cell is only checked to be the true sum
    (unless `joint` is False: the month fell back on its parts)."""
    joint = period.kind == "month" if joint is None else joint
    made = stats.find(db.session, period)
    children = [stats.find(db.session, child) for child in period.children()]
    mine = {key: n for key, n in published(made).items() if "referral_status" not in key[1]
            or period.kind == "month"}
    beneath = [published(child) for child in children]
    counted = stats._counted(db.session, period, {})
    assert mine
    for key, count in mine.items():
        parts = [cells[key] for cells in beneath if key in cells]
        assert parts, key
        true = counted[key[0]][tuple(key[1].split(",")) if key[1] else ()][
            tuple(json.loads(key[2]))]
        if joint:
            assert count is None or count == true >= K, key
        elif count is None:
            assert 1 <= true < K or None in parts, key
        else:
            assert None not in parts and count == sum(parts), key
    return made


def test_a_week_straddling_two_months_and_the_months_add_up_their_parts(busy_quarter):
    # 2026-W31 runs from Monday 27 July to Sunday 2 August.
    week = periods.from_key("week", "2026-W31")
    stats.release(db.session, week, now=NOW, k=K)
    assert [r.period_key for r in db.session.scalars(
        sa.select(StatsRelease).where(StatsRelease.period == "part")
        .order_by(StatsRelease.starts_at))] == ["2026-07-27", "2026-08-01"]
    for month in ("2026-07", "2026-08"):
        stats.release(db.session, periods.from_key("month", month), now=NOW, k=K)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatsRelease).where(
        StatsRelease.period == "part")) == 5 + 6  # W31's two were not made again
    for key in ("2026-W31", "2026-W30"):
        stats.release(db.session, periods.from_key("week", key), now=NOW, k=K)
        adds_up(periods.from_key("week", key))
    july = adds_up(periods.from_key("month", "2026-07"))
    adds_up(periods.from_key("month", "2026-08"))
    # A month's referral statuses are its parts', all taken at the month's end: published
    # where they are common. A week's are all suppressed, every status listed.
    july_cells = published(july)
    assert july_cells[("cases", "", "[]")] == 31 * 5
    assert july_cells[("cases", "nationality", json.dumps(["CM"]))] is None
    assert july_cells[("referrals", "referral_status", json.dumps(["completed"]))] == 31 * 5
    statuses = {json.loads(c)[0]: n for (m, d, c), n in published(stats.find(
        db.session, week)).items() if d == "referral_status"}
    assert statuses == dict.fromkeys(aggregates.REFERRAL_STATUSES)


def test_a_month_hides_a_count_its_weeks_would_narrow(session):
    # Five people of a rare nationality in July 2026, in three weeks inside it. Protected
    # apart, the weeks hid 2, 2 and 1 (each listed, so each at least 1) and the month
    # published 5: anyone could then tell each week held 1 to 3. The month is the sum of
    # its parts, and those hid them, so it hides the 5 too, and the 84 beside it, which
    # the total would turn into the 5.
    post = BorderPostFactory(country="GT")
    for day in range(1, 29):
        for _ in range(3):
            CaseFactory(facility=post, subject=SubjectFactory(nationality="HN"),
                        created_at=datetime(2026, 7, day, 9, tzinfo=UTC))
    for day in (7, 8, 14, 15, 21):
        CaseFactory(facility=post, subject=SubjectFactory(nationality="VE"),
                    created_at=datetime(2026, 7, day, 9, tzinfo=UTC))
    july, _ = stats.release(db.session, periods.from_key("month", "2026-07"), now=NOW, k=K)
    weeks = [stats.release(db.session, periods.from_key("week", key), now=NOW, k=K)[0]
             for key in ("2026-W28", "2026-W29", "2026-W30")]
    ve = ("cases", "nationality", json.dumps(["VE"]))
    assert [published(week)[ve] for week in weeks] == [None, None, None]
    july_cells = published(july)
    assert july_cells[ve] is None
    assert july_cells[("cases", "nationality", json.dumps(["HN"]))] is None
    assert july_cells[("cases", "", "[]")] == 89


def test_an_unfinished_period_is_not_released(quarter_of_cases):
    with pytest.raises(ValueError):
        stats.release(db.session, periods.from_key("month", "2026-11"), now=NOW, k=K)


def intruders_view(quarter):
    """Everything published for the quarter and its months: counts, lines, hidden cells."""
    counts, lines, hidden = {}, [], set()
    for period in (quarter, *quarter.children()):
        stats._counted(db.session, period, counts, lines)
        release = stats.find(db.session, period)
        hidden |= {key for key, was_hidden in stats._cells_of(db.session, release).items()
                   if was_hidden}
    sums = []
    for metric in aggregates.METRICS:
        window = aggregates.Period
        children = {c.key: aggregates.count_all(db.session, metric, window(c.start, c.end))
                    for c in quarter.children()}
        parent = aggregates.count_all(db.session, metric, window(quarter.start, quarter.end))
        sums.extend(disclosure.Line((metric, *t), tuple((metric, *p) for p in parts))
                    for t, parts in aggregates.period_lines(quarter.kind, quarter.key, parent,
                                                            children))
    return counts, lines + sums, hidden, sums


def test_a_quarter_is_released_after_its_months_and_hides_what_they_hid(busy_quarter):
    quarter = periods.from_key("quarter", "2026-Q3")
    made, _ = stats.release(db.session, quarter, now=NOW, k=K)
    releases = db.session.scalars(sa.select(StatsRelease).where(StatsRelease.period != "part")
                                  .order_by(StatsRelease.period_key))
    assert [(r.period, r.period_key) for r in releases] == [
        ("month", "2026-07"), ("month", "2026-08"), ("month", "2026-09"),
        ("quarter", "2026-Q3")]
    counts, lines, hidden, sums = intruders_view(quarter)
    # What the months publish leaves every small hidden count able to reach K, and the
    # quarter adds nothing to it.
    assert disclosure.audit(counts, lines, hidden, k=K) == set()
    assert made.cells > 0
    assert ("cases", quarter.key, ("nationality",), ("CM",)) in hidden  # 6: months hid 2s
    assert ("cases", quarter.key, (), ()) not in hidden
    # A quarter's cell is hidden exactly when it is small or a month hid its part.
    for line in sums:
        expected = 1 <= counts[line.total] < K or bool(set(line.parts) & hidden)
        assert (line.total in hidden) == expected, line.total
    veiled = [key for key in published(made) if "referral_status" in key[1]]
    assert made.hidden_cells == len({key for key in hidden if key[1] == quarter.key}) + len(
        veiled)
    assert adds_up(quarter) is made


def test_a_quarter_lists_every_referral_status_suppressed_wherever_referrals_occur(
        quarter_of_cases):
    # Every referral of the fixture is completed by the quarter's end; the quarter still
    # lists each status, suppressed, for every combination of the other dimensions that
    # occurs, so a listed cell says nothing of whether anyone is in it.
    quarter = periods.from_key("quarter", "2026-Q3")
    made, _ = stats.release(db.session, quarter, now=NOW, k=K)
    cells = published(made)
    by_status = {key: n for key, n in cells.items() if "referral_status" in key[1]}
    assert by_status and all(n is None for n in by_status.values())
    statuses = ["pending", "accepted", "declined", "expired", "cancelled", "completed",
                "no_show"]
    for nationality in ("HN", "GT", "CM"):
        listed = {json.loads(c)[1] for (m, d, c) in by_status
                  if d == "nationality,referral_status" and json.loads(c)[0] == nationality}
        assert sorted(listed) == sorted(statuses), nationality
    # Its months list only the statuses that occur, as any other table.
    months = [published(stats.find(db.session, month)) for month in quarter.children()]
    assert not [c for cells in months for (m, d, c), n in cells.items()
                if d == "referral_status" and json.loads(c)[0] in ("declined", "no_show")]


def test_a_year_over_a_quarter_that_published_statuses_warns_without_values(
        quarter_of_cases, caplog):
    # A quarter released before its statuses were veiled published some of them. The
    # year cannot withdraw them; operators are told which quarter, never which cells.
    quarter = periods.from_key("quarter", "2026-Q3")
    made, _ = stats.release(db.session, quarter, now=NOW, k=K)
    cell = db.session.scalars(sa.select(StatsCell).where(
        StatsCell.release_id == made.id,
        StatsCell.dimensions == "nationality,referral_status")).first()
    cell.count = 9
    db.session.flush()
    later = datetime(2027, 1, 10, tzinfo=UTC)
    with caplog.at_level("WARNING", logger="referral.services.stats"):
        year, fresh = stats.release(db.session, periods.from_key("year", "2026"), now=later,
                                    k=K)
    assert fresh and year.cells > 0
    warnings = [r.getMessage() for r in caplog.records if "referral status" in r.getMessage()]
    assert warnings == [
        "quarter 2026-Q3 publishes 1 of its counts by referral status, from before such "
        "counts were suppressed in quarters and years; they can narrow small counts of its "
        "months, and only `flask stats rerelease` would withdraw them"]


def test_a_quarter_released_with_a_higher_k_warns_and_hides_what_is_small_under_it(
        quarter_of_cases, caplog):
    # The months were released with k = 3, the quarter with k = 5: months published 3s
    # and 4s, and nothing the quarter hides withdraws them (DESIGN.md: a new k applies to
    # the releases made afterwards). Operators are told, never which cells.
    for month in periods.from_key("quarter", "2026-Q3").children():
        stats.release(db.session, month, now=NOW, k=3)
    with caplog.at_level("WARNING", logger="referral.services.stats"):
        made, _ = stats.release(db.session, periods.from_key("quarter", "2026-Q3"), now=NOW,
                                k=K)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["release quarter 2026-Q3: k=5, over releases made with k=3; `flask "
                        "stats rerelease --period quarter 2026-Q3` would apply k=5 to them too"]
    assert all(count is None or count == 0 or count >= K
               for count in published(made).values())


def test_release_all_releases_every_finished_period_and_only_those(quarter_of_cases):
    made = stats.release_all(db.session, now=NOW, k=K, kinds=("month", "quarter", "year"))
    assert [(r.period, r.period_key) for r in made if r.period != "part"] == [
        ("month", "2026-07"), ("month", "2026-08"), ("month", "2026-09"),
        ("month", "2026-10"), ("quarter", "2026-Q3")]
    assert stats.release_all(db.session, now=NOW, k=K, kinds=("month", "quarter")) == []


def test_a_week_inside_a_month_is_released_over_its_one_part(quarter_of_cases):
    week = periods.containing("week", datetime(2026, 7, 15, tzinfo=UTC))
    made, fresh = stats.release(db.session, week, now=NOW, k=K)
    assert fresh and made.period_key == "2026-W29" and made.cells > 0
    assert [(r.period, r.period_key) for r in db.session.scalars(
        sa.select(StatsRelease).order_by(StatsRelease.period))] == [
        ("part", "2026-07-13"), ("week", "2026-W29")]
    adds_up(week)


def test_a_finished_period_answers_the_same_after_new_records(quarter_of_cases):
    july = periods.from_key("month", "2026-07")
    made, _ = stats.release(db.session, july, now=NOW, k=K)
    before = published(made)
    CaseFactory(created_at=NOW)  # a late sync reaches the server now, not in July
    db.session.flush()
    assert published(stats.find(db.session, july)) == before


def test_flask_stats_release_prints_what_it_released_then_nothing(app, quarter_of_cases):
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["stats", "release", "--period", "quarter"])
    assert first.exit_code == 0, first.output
    assert "released month 2026-07" in first.output
    assert "released quarter 2026-Q3" in first.output
    again = runner.invoke(args=["stats", "release", "--period", "quarter"])
    assert again.exit_code == 0 and "nothing to release" in again.output
    bad = runner.invoke(args=["stats", "release", "--period", "decade"])
    assert bad.exit_code != 0


def test_a_quarter_is_refused_when_a_released_month_was_written_into_afterwards(
        app, quarter_of_cases):
    stats.release_all(db.session, now=NOW, k=K, kinds=("month",))
    # Only a load into the past (or a restore) can do this: records count when they arrive.
    CaseFactory(created_at=datetime(2026, 8, 3, tzinfo=UTC))
    db.session.commit()
    with pytest.raises(stats.ReleaseMismatch, match="month 2026-08 changed after its release"):
        stats.release(db.session, periods.from_key("quarter", "2026-Q3"), now=NOW, k=K)
    db.session.rollback()
    result = app.test_cli_runner().invoke(args=["stats", "release", "--period", "quarter"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: the records of month 2026-08 changed after its release; its parent periods "
        "cannot be released on top of it until `flask stats rerelease --period month "
        "2026-08` releases it again"]
    assert stats.find(db.session, periods.from_key("quarter", "2026-Q3")) is None


def releases():
    return {(r.period, r.period_key): r.k for r in db.session.scalars(sa.select(StatsRelease))}


def test_rerelease_after_records_were_written_into_a_released_month(app, quarter_of_cases):
    stats.release_all(db.session, now=NOW, k=K, kinds=("month", "quarter"))
    db.session.commit()
    old = stats.find(db.session, periods.from_key("month", "2026-08")).id
    # A restore puts a case back into 3 August: the week over that day's part is refused.
    CaseFactory(created_at=datetime(2026, 8, 3, 9, tzinfo=UTC))
    db.session.commit()
    week = periods.from_key("week", "2026-W32")
    with pytest.raises(stats.ReleaseMismatch, match="rerelease --period month 2026-08`"):
        stats.release(db.session, week, now=NOW, k=K)
    db.session.rollback()

    result = app.test_cli_runner().invoke(
        args=["stats", "rerelease", "--period", "month", "2026-08", "--yes"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["withdrew month 2026-08 (k=5)", "withdrew quarter 2026-Q3 (k=5)"]
    assert [line.split(":")[0] for line in lines[2:]] == [
        "released month 2026-08", "released quarter 2026-Q3"]
    # adds_up recounts: what the new releases publish holds the restored case.
    august = adds_up(periods.from_key("month", "2026-08"))
    assert august.id != old
    adds_up(periods.from_key("quarter", "2026-Q3"))
    stats.release(db.session, week, now=NOW, k=K)  # no longer refused
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "stats_rereleased")).one()
    assert event.object_id == str(august.id)
    assert event.detail["period"] == "month" and event.detail["key"] == "2026-08"
    assert "quarter 2026-Q3 k=5" in event.detail["withdrawn"]
    assert "part 2026-08-03 k=5" in event.detail["withdrawn"]
    assert "month 2026-07 k=5" not in event.detail["withdrawn"]


def test_rerelease_applies_a_raised_k_to_the_months_beneath_a_quarter(quarter_of_cases,
                                                                      caplog):
    quarter = periods.from_key("quarter", "2026-Q3")
    stats.release(db.session, quarter, now=NOW, k=3)
    assert set(releases().values()) == {3}
    months = [stats.find(db.session, month) for month in quarter.children()]
    assert any(count in (3, 4) for month in months for count in published(month).values())
    with caplog.at_level("WARNING", logger="referral.services.stats"):
        withdrawn, made = stats.rerelease(db.session, [quarter], now=NOW, k=K)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert {(kind, key) for kind, key, _ in withdrawn} == set(releases())
    assert {(r.period, r.period_key) for r in made} == set(releases())
    assert set(releases().values()) == {K}
    for period in (quarter, *quarter.children()):
        assert all(count is None or count == 0 or count >= K
                   for count in published(stats.find(db.session, period)).values())


def test_rerelease_of_a_month_replaces_the_week_straddling_it_not_the_next_month(
        busy_quarter):
    july, august = periods.from_key("month", "2026-07"), periods.from_key("month", "2026-08")
    straddling = periods.from_key("week", "2026-W31")  # 27 July to 2 August
    for period in (july, august, straddling):
        stats.release(db.session, period, now=NOW, k=K)
    kept = {key: stats.find(db.session, periods.from_key(*key)).id
            for key in (("month", "2026-08"), ("part", "2026-08-01"))}
    withdrawn, _ = stats.rerelease(db.session, [july], now=NOW, k=K)
    assert ("week", "2026-W31", K) in withdrawn and ("part", "2026-07-27", K) in withdrawn
    assert not {("month", "2026-08"), ("part", "2026-08-01")} & {w[:2] for w in withdrawn}
    assert {key: stats.find(db.session, periods.from_key(*key)).id for key in kept} == kept
    adds_up(straddling)


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "month", "2026-10", "--yes"],
     "Error: month 2026-10 has no release to replace; `flask stats release` makes it"),
    (["--period", "month", "2026-11", "--yes"], "Error: month 2026-11 has not finished"),
    (["--period", "month", "2026-13", "--yes"], "Error: KEYS: not a month key: '2026-13'"),
])
def test_rerelease_refuses_in_one_line_and_withdraws_nothing(app, quarter_of_cases, args,
                                                             message):
    stats.release(db.session, periods.from_key("month", "2026-07"), now=NOW, k=K)
    db.session.commit()
    before = releases()
    result = app.test_cli_runner().invoke(args=["stats", "rerelease", *args])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [message]
    assert releases() == before


def test_rerelease_asks_first_and_a_no_withdraws_nothing(app, quarter_of_cases):
    stats.release(db.session, periods.from_key("month", "2026-07"), now=NOW, k=K)
    db.session.commit()
    ids = {r.id for r in db.session.scalars(sa.select(StatsRelease))}
    result = app.test_cli_runner().invoke(
        args=["stats", "rerelease", "--period", "month", "2026-07"], input="n\n")
    assert result.exit_code != 0 and "what they read before stays known" in result.output
    assert {r.id for r in db.session.scalars(sa.select(StatsRelease))} == ids


def test_two_restored_months_sharing_a_week_are_released_again_together(quarter_of_cases):
    july, august = periods.from_key("month", "2026-07"), periods.from_key("month", "2026-08")
    straddling = periods.from_key("week", "2026-W31")  # 27 July to 2 August
    for period in (july, august, straddling):
        stats.release(db.session, period, now=NOW, k=K)
    CaseFactory(created_at=datetime(2026, 7, 28, 9, tzinfo=UTC))
    CaseFactory(created_at=datetime(2026, 8, 1, 9, tzinfo=UTC))
    db.session.commit()
    # July alone would rebuild the week over August's first day, as it was released.
    with pytest.raises(stats.ReleaseMismatch, match="rerelease --period month 2026-08`"):
        stats.rerelease(db.session, [july], now=NOW, k=K)
    db.session.rollback()
    withdrawn, _ = stats.rerelease(db.session, [july, august], now=NOW, k=K)
    assert {("month", "2026-07", K), ("month", "2026-08", K), ("week", "2026-W31", K)} <= set(
        withdrawn)
    for period in (july, august, straddling):
        adds_up(period)


def released_event(made):
    return db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "stats_released", AuditEvent.object_id == str(made.id))).one()


def test_the_audit_log_names_a_months_metrics_that_fell_back_on_its_parts(
        quarter_of_cases, monkeypatch):
    july, august = periods.from_key("month", "2026-07"), periods.from_key("month", "2026-08")
    made, _ = stats.release(db.session, july, now=NOW, k=K)
    assert "nested" not in released_event(made).detail  # audited jointly in time
    monkeypatch.setattr(stats, "MONTH_AUDIT_S", 0.0)
    made, _ = stats.release(db.session, august, now=NOW, k=K)
    assert released_event(made).detail["nested"] == ["cases", "referrals"]
    adds_up(august, joint=False)  # it publishes only what its parts' releases give
    # A quarter or a week adds up its parts by rule, not for lack of time: nothing to say.
    quarter, _ = stats.release(db.session, periods.from_key("quarter", "2026-Q3"), now=NOW,
                               k=K)
    week, _ = stats.release(db.session, periods.from_key("week", "2026-W31"), now=NOW, k=K)
    assert "nested" not in released_event(quarter).detail
    assert "nested" not in released_event(week).detail


def test_stats_release_reminds_operators_of_periods_released_with_another_k(
        app, quarter_of_cases):
    for month in ("2026-07", "2026-08"):
        stats.release(db.session, periods.from_key("month", month), now=NOW, k=3)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["stats", "release", "--period", "month"])
    assert result.exit_code == 0, result.output
    assert ("2 released periods were protected with another k than 5 (month 2026-07, month "
            "2026-08); `flask --app referral stats rerelease` applies k=5 to them"
            ) in result.output
    assert "released month 2026-09" in result.output  # k=5, not in the reminder
    app.test_cli_runner().invoke(args=["stats", "rerelease", "--period", "month", "2026-07",
                                       "2026-08", "--yes"])
    again = app.test_cli_runner().invoke(args=["stats", "release", "--period", "month"])
    assert "another k" not in again.output


def test_the_daily_release_goes_on_past_a_restored_month_and_says_what_it_refused(
        app, quarter_of_cases, caplog):
    stats.release_all(db.session, now=NOW, k=K, kinds=("month",))
    db.session.commit()
    CaseFactory(created_at=datetime(2026, 8, 3, 9, tzinfo=UTC))  # a restore
    db.session.commit()
    with caplog.at_level("WARNING", logger="referral.services.stats"):
        result = jobs.run("stats_release", NOW)
    # The quarter over August and the week over 3 August wait for an operator; the
    # weeks after them are released all the same.
    assert result["refused"] == 2
    assert stats.find(db.session, periods.from_key("quarter", "2026-Q3")) is None
    assert stats.find(db.session, periods.from_key("week", "2026-W32")) is None
    assert stats.find(db.session, periods.from_key("week", "2026-W33")) is not None
    assert stats.find(db.session, periods.from_key("week", "2026-W46")) is not None
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals[0] == (
        "release quarter 2026-Q3 refused: the records of month 2026-08 changed after its "
        "release; its parent periods cannot be released on top of it until `flask stats "
        "rerelease --period month 2026-08` releases it again")
    assert refusals[1].startswith("release week 2026-W32 refused: the records of month "
                                  "2026-08 changed")
