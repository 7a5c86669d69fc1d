"""The audit log: every read and write of a case or subject, every login and export.

Events form one SHA-256 chain. Appending locks the single `audit_head` row (row lock on
PostgreSQL; SQLite's write lock is taken at BEGIN IMMEDIATE), so concurrent writers
still make one chain, and the head records the newest hash so deleting the newest
events is detected too. Events carry ids and names, never personal values.
"""

import hashlib
import json
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.models import AuditEvent, AuditHead
from referral.models.base import utcnow

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "seq": event.seq,
        "id": str(event.id),
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip": event.ip,
        "detail": event.detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


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
    head = session.execute(
        sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    at = now or utcnow()
    event = AuditEvent(
        id=uuid.uuid4(),
        seq=head.seq + 1,
        at=at,
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


def verify(session: Session, batch: int = 5000) -> tuple[bool, int, uuid.UUID | None]:
    """Walk the chain: (ok, events checked, id of the first bad event or None)."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_id = None
    query = sa.select(AuditEvent).order_by(AuditEvent.seq)
    for event in session.execute(query.execution_options(yield_per=batch)).scalars():
        if event.seq != expected_seq or event.prev_hash != prev_hash \
                or event_hash(prev_hash, event) != event.hash:
            return False, count, event.id
        prev_hash, expected_seq, last_id = event.hash, expected_seq + 1, event.id
        count += 1
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev_hash:
        # The newest events were removed (or the head was altered): blame the last good one's
        # successor, which is missing; report the last event we hold.
        return False, count, last_id
    return True, count, None
