"""API: the audit log and its chain check (admins only)."""

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import actor, allow, client_address
from referral.extensions import db
from referral.schemas.audit import AuditArgs, AuditPage, VerifyOut
from referral.schemas.common import now
from referral.services import audit

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="The audit log (admins)")


@blp.route("/audit", methods=["GET"])
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPage)
@allow("admin")
def list_events(args):
    """Audit events, newest first, filtered by object, actor or action."""
    page, per_page = args.pop("page"), args.pop("per_page")
    items, total = audit.read_events(db.session, actor(), page=page, per_page=per_page,
                                     ip=client_address(), now=now(), **args)
    db.session.commit()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


@blp.route("/audit/verify", methods=["GET"])
@blp.response(200, VerifyOut)
@allow("admin")
def verify():
    """Check the hash chain: ok with the event count, or the first bad event."""
    # A read of hashes only, so not itself audited; committing between batches lets a
    # long walk release SQLite's write lock.
    verdict = audit.verify(db.session, between_batches=db.session.commit)
    db.session.commit()
    if verdict.ok:
        return {"ok": True, "events": verdict.events}
    return verdict
