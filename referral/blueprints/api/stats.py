"""API: published statistics, as JSON, CSV or XLSX (managers, admins)."""

from flask import current_app, make_response
from marshmallow import RAISE

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import actor, allow, client_address
from referral.extensions import db
from referral.schemas.common import now
from referral.schemas.stats import StatsArgs, StatsOut
from referral.services import exports, reports

blp = Blueprint("stats", __name__, url_prefix="/api/v1",
                description="Anonymized statistics (managers, admins)")
JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/StatsOut"}}}
FILES = {
    "text/csv": {"schema": {"type": "string"}},
    exports.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
}


@blp.route("/stats", methods=["GET"])
@allow("manager", "admin")
@blp.arguments(StatsArgs, location="query", unknown=RAISE)
@blp.response(200, StatsOut)
@blp.doc(responses={"200": {"content": {**JSON, **FILES}}})
def table(query: reports.Query):
    """One table of published counts per finished period; every request is audited."""
    result = reports.answer(db.session, query, user=actor(), now=now(), ip=client_address(),
                            k=current_app.config["SUPPRESSION_K"], between=db.session.commit)
    db.session.commit()
    if query.format == "json":
        return result
    body = exports.to_csv(result) if query.format == "csv" else exports.to_xlsx(result)
    response = make_response(body)
    response.headers.update({
        "Content-Type": exports.MEDIA_TYPES[query.format],
        "Content-Disposition":
            f'attachment; filename="{exports.filename(result, query.format)}"',
        "Cache-Control": "no-store",
    })
    return response
