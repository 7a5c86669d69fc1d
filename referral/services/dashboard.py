"""The managers' dashboard: chart-ready series from published statistics only.

Every number comes from `reports.answer`, so the dashboard shows exactly what GET /stats
would (suppressed cells stay suppressed: None here) and each table it reads is audited.
A rate is drawn only where both of its published counts exist.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from referral.services import periods, reports

MONTHS = 12
POSTS_DRAWN = 8  # the posts with most published cases get a line; the table lists all


@dataclass
class Table:
    """One published table: its query (for the download links) and its answer."""

    query: reports.Query
    result: dict
    series: dict = field(default_factory=dict)  # name -> [count or None per period]


def _query(metric: str, group_by: tuple, first, last) -> reports.Query:
    return reports.Query(metric=metric, period="month", group_by=group_by, first=first,
                         last=last)


def _series(result: dict, dimension: str) -> dict[str, list]:
    keys = result["periods"]
    found: dict[str, dict] = {}
    for row in result["rows"]:
        found.setdefault(str(row[dimension]), {})[row["period"]] = row["count"]
    # A combination not listed is 0; a suppressed one is None.
    return {name: [by_period.get(key, 0) for key in keys] for name, by_period in found.items()}


def build(session: Session, *, user, now: datetime, k: int, ip=None, between=None) -> dict:
    """Cases per month by border post, needs in the last month, and referral completion."""
    last = periods.containing("month", periods.containing("month", now).start
                              - timedelta(microseconds=1))
    first = last
    for _ in range(MONTHS - 1):
        first = periods.containing("month", first.start - timedelta(microseconds=1))

    def read(metric, group_by, since=first):
        query = _query(metric, group_by, since, last)
        return Table(query, reports.answer(session, query, user=user, now=now, k=k, ip=ip,
                                           between=between))

    posts = read("cases", ("intake_facility",))
    posts.series = _series(posts.result, "intake_facility")
    ranked = sorted(posts.series, key=lambda name: -sum(v or 0 for v in posts.series[name]))
    posts.series = {name: posts.series[name] for name in ranked}

    needs = read("cases", ("need",), since=last)
    needs.series = {name: values[0] for name, values in _series(needs.result, "need").items()}

    statuses = read("referrals", ("referral_status",))
    by_status = _series(statuses.result, "referral_status")
    totals = [row["count"] for row in statuses.result["totals"]]
    completed = by_status.get("completed", [0] * len(totals))
    statuses.series = {"completion": [
        None if done is None or total in (None, 0) else done / total
        for done, total in zip(completed, totals, strict=True)]}
    recorded = any(total["count"] != 0 for total in posts.result["totals"])  # None: hidden
    return {"posts": posts, "needs": needs, "referrals": statuses,
            "months": posts.result["periods"] if recorded else [],
            "drawn": ranked[:POSTS_DRAWN]}
