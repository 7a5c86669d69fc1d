"""Calendar periods of statistics: ISO weeks, months, quarters and years, in UTC.

A period is known by its key (`2026-W43`, `2026-10`, `2026-Q4`, `2026`); it has finished
when its end has passed. Months make quarters and quarters make years. A week can straddle
two months, so both are made of **parts**: the days of one ISO week inside one month
(`2026-06-29`, the key being its first day). Parts are never published; they are what
weeks and months are protected from (`stats`), and a part's referral statuses are those at
the end of its month (`as_of`), so that a month's statuses are the sums of its parts'.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

KINDS = ("week", "month", "quarter", "year")  # what managers ask for
PART = "part"
CHILD = {"week": PART, "month": PART, "quarter": "month", "year": "quarter"}
KEY_FORMS = {
    PART: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}


@dataclass(frozen=True, order=True)
class CalendarPeriod:
    start: datetime
    end: datetime
    kind: str
    key: str

    def finished(self, now: datetime) -> bool:
        return self.end <= now

    @property
    def as_of(self) -> datetime:
        """When its referral statuses are taken: its end, but a part's month's end."""
        return containing("month", self.start).end if self.kind == PART else self.end

    def children(self) -> list["CalendarPeriod"]:
        """The parts of a week or a month, the months of a quarter, the quarters of a
        year; nothing for a part."""
        child = CHILD.get(self.kind)
        if child is None:
            return []
        found, moment = [], self.start
        while moment < self.end:
            period = containing(child, moment)
            found.append(period)
            moment = period.end
        return found


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def containing(kind: str, moment: datetime) -> CalendarPeriod:
    """The period of this kind that holds the moment."""
    day = moment.astimezone(UTC).date()
    if kind == "week":
        year, week, weekday = day.isocalendar()
        start = day - timedelta(days=weekday - 1)
        return CalendarPeriod(_at(start), _at(start + timedelta(days=7)), kind,
                              f"{year}-W{week:02d}")
    if kind == "month":
        start = day.replace(day=1)
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return CalendarPeriod(_at(start), _at(end), kind, f"{start:%Y-%m}")
    if kind == "quarter":
        quarter = (day.month - 1) // 3
        start = date(day.year, 3 * quarter + 1, 1)
        end = date(day.year + (quarter == 3), (3 * quarter + 3) % 12 + 1, 1)
        return CalendarPeriod(_at(start), _at(end), kind, f"{day.year}-Q{quarter + 1}")
    if kind == "year":
        return CalendarPeriod(_at(date(day.year, 1, 1)), _at(date(day.year + 1, 1, 1)), kind,
                              str(day.year))
    if kind == PART:
        week, month = containing("week", moment), containing("month", moment)
        start, end = max(week.start, month.start), min(week.end, month.end)
        return CalendarPeriod(start, end, kind, f"{start:%Y-%m-%d}")
    raise ValueError(f"unknown period kind {kind!r}")


def from_key(kind: str, key: str) -> CalendarPeriod:
    """The period a key names; ValueError when it is not a key of this kind."""
    found = KEY_FORMS[kind].match(key or "")
    if not found:
        raise ValueError(f"not a {kind} key: {key!r}")
    year = int(found[1])
    try:  # a month 13, a week 54 or a 31 June names no period either
        if kind == PART:
            moment = date(year, int(found[2]), int(found[3]))
        elif kind == "week":
            moment = date.fromisocalendar(year, int(found[2]), 1)
        elif kind == "month":
            moment = date(year, int(found[2]), 1)
        elif kind == "quarter":
            moment = date(year, 3 * int(found[2]) - 2, 1)
        else:
            moment = date(year, 1, 1)
        period = containing(kind, _at(moment))
    except ValueError:
        raise ValueError(f"not a {kind} key: {key!r}") from None
    if period.key != key:
        raise ValueError(f"not a {kind} key: {key!r}")
    return period


def finished_between(kind: str, first: datetime, now: datetime) -> list[CalendarPeriod]:
    """Every finished period of a kind from the one holding `first` up to now, in order."""
    found, period = [], containing(kind, first)
    while period.finished(now):
        found.append(period)
        period = containing(kind, period.end)
    return found


DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = KEY_FORMS["month"]


def snapped(kind: str, text: str, *, last: bool) -> CalendarPeriod:
    """The period of `kind` holding the first (or, with `last`, the last) day of `text`.

    `text` is a date (`2026-03-15`), a month (`2026-03`) or a key of `kind` (`2026-Q1`,
    `2026-W05`, `2026`). Snapping the first day of `from` and the last day of `to` widens a
    range outward to whole periods. ValueError when it is none of these.
    """
    text = (text or "").strip()
    if DAY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a date: {text!r}") from None
        return containing(kind, _at(day))
    if MONTH.match(text):
        try:
            month = from_key("month", text)
        except ValueError:
            raise ValueError(f"not a month: {text!r}") from None
    elif KEY_FORMS[kind].match(text):
        month = from_key(kind, text)
    else:
        raise ValueError(f"not a date, a month (YYYY-MM) or a {kind} key: {text!r}")
    return containing(kind, month.end - timedelta(microseconds=1) if last else month.start)
