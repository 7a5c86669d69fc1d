"""Key ring operations: status, rotation (rewrapping data keys) and retiring old KEKs.

Rotation never re-encrypts a field: each subject's data key is unwrapped with its KEK
and wrapped with the target KEK, one state-guarded UPDATE per data key, so a rotation
that stops half-way leaves every key wrapped by a KEK still in the ring, and running it
again picks up where it stopped.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Conflict, NotFound
from referral.models import DataKey
from referral.services import audit
from referral.services.crypto import DecryptionError, Keyring, KeyringError

BATCH_SIZE = 500

data_keys = DataKey.__table__


@dataclass
class KekStatus:
    id: str
    current: bool
    created_at: str
    data_keys: int
    in_ring: bool = True

    @property
    def retirable(self) -> bool:
        return self.in_ring and not self.current and self.data_keys == 0


@dataclass
class Plan:
    """What `rotate` will do: the KEK to rewrap to, whether it is new, how much to do."""

    target: str
    created: bool
    pending: int


@dataclass
class Batch:
    rewrapped: int = 0
    changed: int = 0  # moved by someone else between our read and our UPDATE
    failed: list[str] = field(default_factory=list)  # subject ids whose key did not open
    last: str | None = None


def counts_by_kek(session: Session) -> dict[str, int]:
    query = sa.select(data_keys.c.kek_id, sa.func.count()).group_by(data_keys.c.kek_id)
    return dict(session.execute(query).all())


def status(session: Session, ring: Keyring) -> list[KekStatus]:
    """Every KEK in the ring, newest first, then any KEK the database names but the ring
    lacks (those data keys cannot be opened)."""
    counts = counts_by_kek(session)
    known = [
        KekStatus(kek_id, kek_id == ring.current, ring.created.get(kek_id, ""),
                  counts.get(kek_id, 0))
        for kek_id in ring.keks
    ]
    known.sort(key=lambda k: k.created_at, reverse=True)
    known.sort(key=lambda k: not k.current)  # stable: current first, then newest first
    missing = [
        KekStatus(kek_id, False, "", count, in_ring=False)
        for kek_id, count in sorted(counts.items()) if kek_id not in ring.keks
    ]
    return known + missing


def pending(session: Session, target: str) -> int:
    """How many data keys are not wrapped by `target`."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(data_keys).where(data_keys.c.kek_id != target)
    )


def plan_rotation(session: Session, ring: Keyring, resume: bool = False) -> Plan:
    """Finish unfinished work before making a new KEK, so re-running never stacks KEKs."""
    left = pending(session, ring.current)
    if resume or left:
        return Plan(ring.current, created=False, pending=left)
    target = ring.add_kek()
    return Plan(target, created=True, pending=pending(session, target))


def rewrap_batch(session: Session, ring: Keyring, target: str, after: str | None,
                 now: datetime, size: int = BATCH_SIZE) -> Batch:
    """Rewrap up to `size` data keys not wrapped by `target`, in subject id order."""
    query = sa.select(data_keys.c.subject_id, data_keys.c.kek_id, data_keys.c.wrapped).where(
        data_keys.c.kek_id != target
    )
    if after is not None:
        query = query.where(data_keys.c.subject_id > after)
    rows = session.execute(query.order_by(data_keys.c.subject_id).limit(size)).all()
    batch = Batch()
    for subject_id, old_kek, wrapped in rows:
        batch.last = subject_id
        try:
            dek = ring.unwrap(old_kek, wrapped, str(subject_id))
        except (KeyringError, DecryptionError):
            batch.failed.append(str(subject_id))
            continue
        _, rewrapped = ring.wrap(dek, str(subject_id), kek_id=target)
        result = session.execute(
            sa.update(data_keys)
            .where(data_keys.c.subject_id == subject_id, data_keys.c.kek_id == old_kek)
            .values(kek_id=target, wrapped=rewrapped, rotated_at=now)
        )
        if result.rowcount == 1:
            batch.rewrapped += 1
        else:
            batch.changed += 1
    return batch


def rewrap(session: Session, ring: Keyring, target: str, now: datetime,
           size: int = BATCH_SIZE) -> Iterator[Batch]:
    """Yield after each batch so the caller commits it; one pass in subject id order."""
    after = None
    while True:
        batch = rewrap_batch(session, ring, target, after, now, size)
        if batch.last is None:
            return
        after = batch.last
        yield batch


def record_rotation(session: Session, plan: Plan, totals: Batch, now: datetime) -> None:
    audit.record(session, "keys.rotate", object_type="kek", object_id=plan.target, now=now,
                 detail={"created": plan.created, "rewrapped": totals.rewrapped,
                         "changed": totals.changed, "failed": len(totals.failed)})


def retire(session: Session, ring: Keyring, kek_id: str, now: datetime) -> None:
    """Remove a KEK from the ring once it is not current and wraps no data key."""
    ring.reload()
    if kek_id not in ring.keks:
        raise NotFound(f"key {kek_id} is not in the key ring")
    if kek_id == ring.current:
        raise Conflict(f"key {kek_id} is the current key; rotate to a new key first")

    def nothing_wrapped():
        still = counts_by_kek(session).get(kek_id, 0)
        if still:
            raise Conflict(f"key {kek_id} still wraps {still} data keys; "
                           "run `keys rotate --resume` first")

    ring.remove_kek(kek_id, check=nothing_wrapped)  # counted under the ring's lock
    audit.record(session, "keys.retire", object_type="kek", object_id=kek_id, now=now)
