"""The audit log: every read and write of a case or subject, every login and export.

Events form one SHA-256 chain. Appending locks the single `audit_head` row (row lock on
PostgreSQL; SQLite's write lock is taken at BEGIN IMMEDIATE), so concurrent writers
still make one chain, and the head records the newest seq and hash so deleting the newest
events is detected too. Events carry ids and names, never personal values.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from referral.errors import Forbidden
from referral.models import AuditEvent, AuditHead, User
from referral.models.base import utcnow

GENESIS = "0" * 64
EVENTS = AuditEvent.__table__


def _canonical(event) -> bytes:
    """The hashed form of an event (an AuditEvent or a row of audit_events)."""
    body = {
        "seq": event.seq,
        "id": str(event.id),
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip": event.ip,
        "detail": event.detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def event_hash(prev_hash: str, event) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


def _locked_head(session: Session) -> AuditHead:
    """The head row, locked for this transaction; created race-free on the first append."""
    # populate_existing: with expire_on_commit=False the session may hold a stale copy.
    query = (sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
             .execution_options(populate_existing=True))
    head = session.execute(query).scalar_one_or_none()
    if head is None:
        # Two first appends may both find no head: ON CONFLICT lets the second wait for
        # the first and then lock the row it made, instead of failing on the primary key.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(AuditHead.__table__)
                        .values(id=1, seq=0, hash=GENESIS)
                        .on_conflict_do_nothing(index_elements=["id"]))
        head = session.execute(query).scalar_one()
    return head


def record(
    session: Session,
    action: str,
    *,
    actor=None,
    object_type: str | None = None,
    object_id=None,
    ip: str | None = None,
    detail: dict | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (flushes; the caller commits with its change)."""
    head = _locked_head(session)
    event = AuditEvent(
        id=uuid.uuid4(),
        seq=head.seq + 1,
        at=(now or utcnow()).astimezone(UTC),
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "username", None),
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        ip=ip,
        detail=detail,
        prev_hash=head.hash,
    )
    event.hash = event_hash(head.hash, event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    session.flush()
    return event


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def read_events(session: Session, reader: User, *, object_id: str | None = None,
                actor: str | None = None, action: str | None = None, page: int = 1,
                per_page: int = 50, ip: str | None = None,
                now: datetime | None = None) -> tuple[list[AuditEvent], int]:
    """A page of events, newest first; `actor` is a username or a user id. Audited."""
    if reader.role != "admin":
        raise Forbidden()
    query = sa.select(AuditEvent)
    if object_id:
        as_uuid = _as_uuid(object_id)
        query = query.where(AuditEvent.object_id == (str(as_uuid) if as_uuid else object_id))
    if actor:
        name = actor.strip().lower()
        actor_id = _as_uuid(actor) or session.scalar(
            sa.select(User.id).where(sa.func.lower(User.username) == name))
        # The name recorded at the time, or the account it belongs to now (renamed users).
        matches = [sa.func.lower(AuditEvent.actor) == name]
        if actor_id is not None:
            matches.append(AuditEvent.actor_id == actor_id)
        query = query.where(sa.or_(*matches))
    if action:
        query = query.where(AuditEvent.action == action)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = list(session.scalars(query.order_by(AuditEvent.seq.desc())
                                 .limit(per_page).offset((page - 1) * per_page)))
    # Filter values are free text an admin typed: record which filters, never their values.
    filters = sorted(name for name, value in
                     (("object_id", object_id), ("actor", actor), ("action", action)) if value)
    record(session, "audit_read", actor=reader, object_type="audit", ip=ip, now=now,
           detail={"filters": filters, "page": page, "per_page": per_page,
                   "returned": len(items), "total": total})
    return items, total


@dataclass(frozen=True)
class Verdict:
    """What a walk of the chain found.

    `first_bad_event` is the first event held whose link or content is wrong; it is None
    when the break is at the end (the newest events are missing, the head says how many).
    """

    ok: bool
    events: int  # events found good, in order, before any break
    first_bad_event: uuid.UUID | None = None
    first_bad_seq: int | None = None
    reason: str | None = None

    def __iter__(self):
        # Older callers unpack (ok, events, first_bad_event).
        return iter((self.ok, self.events, self.first_bad_event))


def _head(session: Session):
    return session.execute(
        sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()


def verify(session: Session, batch: int = 5000,
           between_batches: Callable[[], None] | None = None) -> Verdict:
    """Walk the chain in seq order, `batch` events at a time (constant memory).

    The head is read first and only events up to its seq are checked, so appends made
    meanwhile do not look like tampering. `between_batches` (a CLI or job may pass its
    session's commit) lets a long walk release SQLite's write lock between batches; the
    events it checks are immutable, so the walk stays consistent.
    """
    head = _head(session)
    prev_hash, expected, last_id = GENESIS, 1, None
    while True:
        query = sa.select(EVENTS).order_by(EVENTS.c.seq).limit(batch)
        if expected > 1:
            query = query.where(EVENTS.c.seq >= expected)
        if head is not None:
            query = query.where(EVENTS.c.seq <= head.seq)
        rows = session.execute(query).all()
        for row in rows:
            if row.seq > expected:
                return Verdict(False, expected - 1, row.id, expected,
                               f"events from seq {expected} to {row.seq - 1} are missing")
            if row.seq < expected:
                return Verdict(False, expected - 1, row.id, expected, "its seq is out of order")
            if row.prev_hash != prev_hash:
                return Verdict(False, expected - 1, row.id, expected,
                               "its prev_hash does not match the event before it")
            if event_hash(prev_hash, row) != row.hash:
                return Verdict(False, expected - 1, row.id, expected,
                               "its content does not match its hash")
            prev_hash, expected, last_id = row.hash, expected + 1, row.id
        if len(rows) < batch:
            break
        if between_batches is not None:
            between_batches()
    count = expected - 1
    if head is None:
        if count == 0:
            return Verdict(True, 0)
        if _head(session) is not None:  # the very first append raced with this walk
            return verify(session, batch, between_batches)
        return Verdict(False, count, None, count + 1, "the chain head is missing")
    if count < head.seq:
        return Verdict(False, count, None, count + 1,
                       f"events from seq {count + 1} to {head.seq} are missing "
                       f"(the head records {head.seq})")
    if head.hash != prev_hash:
        return Verdict(False, count - 1, last_id, count,
                       "the head's hash does not match this event")
    return Verdict(True, count)
