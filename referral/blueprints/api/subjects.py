"""API: people by pseudonym, matching, and erasure."""

from referral.blueprints.api import Blueprint
from referral.blueprints.api.access import STAFF, actor, allow, client_address
from referral.extensions import db
from referral.schemas.case import MatchIn, MatchOut, SubjectWithCasesOut
from referral.schemas.common import now
from referral.services import erasure, pseudonyms, subjects

blp = Blueprint("subjects", __name__, url_prefix="/api/v1", description="People")


@blp.route("/subjects/<string:pseudonym>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, SubjectWithCasesOut)
def get_subject(pseudonym: str):
    """A person and the cases of them the caller may see."""
    subject = subjects.get_subject(db.session, actor(), pseudonyms.normalize(pseudonym),
                                   now=now(), ip=client_address())
    db.session.commit()
    return subject


@blp.route("/subjects/match", methods=["POST"])
@allow(*STAFF)
@blp.arguments(MatchIn)
@blp.response(200, MatchOut)
def match(fields):
    """Pseudonyms of people whose identifying fields match (keyed blind index)."""
    found = subjects.match(db.session, actor(), fields, now=now(), ip=client_address())
    db.session.commit()
    return {"matches": found}


@blp.route("/subjects/<string:pseudonym>", methods=["DELETE"])
@allow("admin")
@blp.response(204)
def erase(pseudonym: str):
    """Erase a person by destroying their data key (crypto-shredding)."""
    erasure.erase_subject(db.session, actor(), pseudonyms.normalize(pseudonym), now=now(),
                          ip=client_address())
    db.session.commit()
