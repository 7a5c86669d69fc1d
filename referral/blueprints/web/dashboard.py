"""Managers' dashboard: charts of the disclosure-controlled statistics, and downloads."""

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from referral.blueprints.web import bp, charts
from referral.blueprints.web.labels import label
from referral.blueprints.web.pages import signed_in
from referral.extensions import db
from referral.schemas.common import now
from referral.services import dashboard as service

READERS = ("manager", "admin")


def _downloads(table) -> dict[str, str]:
    query = table.query
    args = {"metric": query.metric, "period": query.period,
            "group_by": ",".join(query.group_by), "from": query.first.key,
            "to": query.last.key}
    return {kind: url_for("stats.table", **args, format=kind) for kind in ("csv", "xlsx")}


@bp.get("/dashboard")
@signed_in(*READERS)
def dashboard():
    data = service.build(db.session, user=current_user, now=now(),
                         k=current_app.config["SUPPRESSION_K"], ip=request.remote_addr,
                         between=db.session.commit)
    db.session.commit()
    posts, needs, referrals = data["posts"], data["needs"], data["referrals"]
    months = data["months"]
    images = {}
    if months:
        every_post = {_("All posts"): [total["count"] for total in posts.result["totals"]]}
        images["posts"] = charts.lines(_("Cases per month by border post"), months,
                                       {**every_post, **{name: posts.series[name]
                                                         for name in data["drawn"]}})
        images["needs"] = charts.bars(_("Needs, %(month)s", month=needs.result["periods"][0]),
                                      {label(name): v for name, v in needs.series.items()})
        images["referrals"] = charts.lines(_("Referrals completed, share per month"), months,
                                           {_("Completed"): referrals.series["completion"]},
                                           percent=True)
    return render_template("web/dashboard.html", data=data, images=images,
                           downloads={name: _downloads(table) for name, table in
                                      (("posts", posts), ("needs", needs),
                                       ("referrals", referrals))})
