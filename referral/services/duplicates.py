"""Duplicate detection by a keyed blind index, without comparing names in clear.

The index is HMAC-SHA256 (a key of its own, derived from the key ring's index key, never
a KEK) over normalized identifying fields: name tokens folded to ASCII lower case and
sorted (so given and family names in either order match), birth year, sex, nationality.
"""

import re
import unicodedata
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.models import Subject
from referral.services import crypto

PURPOSE = "blind-index/v1"
NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str | None) -> list[str]:
    """Name tokens folded to ASCII lower case: 'José  Núñez-Ávila' -> ['avila','jose','nunez']."""
    if not text:
        return []
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return [token for token in NOT_ALNUM.split(ascii_text.lower()) if token]


def match_key(given_name, family_name, birth_date: date | None, birth_year: int | None,
              sex: str | None, nationality: str | None) -> str | None:
    """The blind index of a person, or None when too little is known to match safely."""
    tokens = sorted(fold(given_name) + fold(family_name))
    year = birth_date.year if birth_date else birth_year
    if not tokens or year is None:
        return None
    normalized = "|".join([" ".join(tokens), str(year), sex or "unknown",
                           (nationality or "").upper()])
    return crypto.keyring().digest(PURPOSE, normalized.encode())


def key_of(fields: dict) -> str | None:
    return match_key(fields.get("given_name"), fields.get("family_name"),
                     fields.get("birth_date"), fields.get("birth_year"), fields.get("sex"),
                     fields.get("nationality"))


def matches(session: Session, key: str | None, exclude=None) -> list[str]:
    """Pseudonyms of the other, not erased, subjects with this blind index, across facilities."""
    if key is None:
        return []
    query = sa.select(Subject.pseudonym).where(
        Subject.match_key == key, Subject.erased_at.is_(None)
    ).order_by(Subject.created_at)
    if exclude is not None:
        query = query.where(Subject.id != exclude)
    return list(session.scalars(query))


def duplicates_of(session: Session, subjects) -> dict:
    """{subject id: [pseudonyms of its possible duplicates]} for many subjects in one query."""
    keyed = {s.id: s.match_key for s in subjects if s.match_key}
    if not keyed:
        return {}
    rows = session.execute(
        sa.select(Subject.id, Subject.pseudonym, Subject.match_key).where(
            Subject.match_key.in_(set(keyed.values())), Subject.erased_at.is_(None)
        ).order_by(Subject.created_at)
    ).all()
    found = {}
    for subject_id, key in keyed.items():
        found[subject_id] = [p for (other, p, k) in rows if k == key and other != subject_id]
    return found
