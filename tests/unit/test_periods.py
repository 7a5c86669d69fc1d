from datetime import UTC, datetime

import pytest

from referral.services import periods

NOW = datetime(2026, 11, 22, 14, 3, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "moment", "key", "start", "end"), [
    ("month", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026-12",
     datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("quarter", datetime(2026, 11, 5, tzinfo=UTC), "2026-Q4",
     datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("quarter", datetime(2026, 2, 5, tzinfo=UTC), "2026-Q1",
     datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    ("year", NOW, "2026", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    # ISO week 53 of 2026 runs into 2027; 1 January 2027 is in it.
    ("week", datetime(2027, 1, 1, tzinfo=UTC), "2026-W53",
     datetime(2026, 12, 28, tzinfo=UTC), datetime(2027, 1, 4, tzinfo=UTC)),
])
def test_periods_and_their_keys(kind, moment, key, start, end):
    period = periods.containing(kind, moment)
    assert (period.key, period.start, period.end) == (key, start, end)
    assert periods.from_key(kind, key) == period


@pytest.mark.parametrize(("kind", "key"), [
    ("month", "2026-13"), ("month", "2026-1"), ("quarter", "2026-Q5"), ("week", "2026-W54"),
    ("year", "26"), ("month", None), ("week", "2025-W53"),
])
def test_malformed_keys_are_refused(kind, key):
    with pytest.raises(ValueError, match=f"^not a {kind} key: {key!r}$"):
        periods.from_key(kind, key)


def test_a_quarter_is_made_of_its_months_and_a_year_of_its_quarters():
    quarter = periods.from_key("quarter", "2026-Q3")
    assert [m.key for m in quarter.children()] == ["2026-07", "2026-08", "2026-09"]
    year = periods.from_key("year", "2026")
    assert [q.key for q in year.children()] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]


def test_weeks_and_months_are_made_of_parts_whose_statuses_are_taken_at_the_months_end():
    # 2026-W09 runs from Monday 23 February to Sunday 1 March: it straddles two months.
    week = periods.from_key("week", "2026-W09")
    first, second = week.children()
    assert (first.kind, first.key, first.start, first.end) == (
        "part", "2026-02-23", datetime(2026, 2, 23, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert (second.key, second.end) == ("2026-03-01", week.end)
    assert first.as_of == datetime(2026, 3, 1, tzinfo=UTC)
    assert second.as_of == datetime(2026, 4, 1, tzinfo=UTC)
    assert week.as_of == week.end
    march = periods.from_key("month", "2026-03")
    assert [p.key for p in march.children()] == [
        "2026-03-01", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30"]
    assert march.children()[-1].end == march.end
    assert periods.from_key("week", "2026-W11").children() == [
        periods.from_key("part", "2026-03-09")]
    assert second.children() == []
    for malformed in ("2026-02-30", "2026-03", "2026-3-01"):
        with pytest.raises(ValueError):
            periods.from_key("part", malformed)


def test_only_finished_periods_are_listed():
    first = datetime(2026, 8, 15, tzinfo=UTC)
    assert [p.key for p in periods.finished_between("month", first, NOW)] == [
        "2026-08", "2026-09", "2026-10"]
    assert [p.key for p in periods.finished_between("quarter", first, NOW)] == ["2026-Q3"]
    assert periods.finished_between("year", first, NOW) == []
    weeks = periods.finished_between("week", first, NOW)
    assert weeks[0].key == "2026-W33" and weeks[-1].end <= NOW
