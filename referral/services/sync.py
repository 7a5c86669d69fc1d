"""Offline batches from tablets: each item on its own, replays harmless (API.md, Offline sync)."""

from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from referral.errors import CODES, DomainError, TooLarge, flatten_messages
from referral.models import User
from referral.schemas.case import CaseIn
from referral.schemas.sync import SyncItemIn
from referral.services import audit, intake, scope


def _rejected(client_uuid, status: int, message: str, fields=None) -> dict:
    error = {"code": CODES[status], "message": message}
    if fields:
        error["fields"] = fields
    return {"client_uuid": client_uuid, "status": "rejected", "id": None, "error": error}


def _sync_case(session: Session, actor: User, item: dict, now: datetime, ip) -> dict:
    client_uuid = item["client_uuid"]
    payload = dict(item["payload"])
    if payload.get("client_uuid") not in (None, str(client_uuid)):
        return _rejected(str(client_uuid), 422, "the payload's client_uuid differs from the item's",
                         {"payload.client_uuid": ["Must match the item's client_uuid."]})
    payload["client_uuid"] = str(client_uuid)
    try:
        data = CaseIn().load(payload)
    except ValidationError as exc:
        return _rejected(str(client_uuid), 422, "the case is not valid",
                         flatten_messages(exc.messages, "payload"))
    try:
        with session.begin_nested():
            case, created = intake.create_case(session, actor, data, now=now, ip=ip)
    except DomainError as exc:
        fields = {f"payload.{k}": v for k, v in (exc.fields or {}).items()} or None
        return _rejected(str(client_uuid), exc.status, exc.message, fields)
    return {"client_uuid": str(client_uuid), "status": "created" if created else "duplicate",
            "id": str(case.id), "error": None}


HANDLERS = {"case": _sync_case}


def _sync_item(session: Session, actor: User, raw, now: datetime, ip) -> dict:
    client_uuid = raw.get("client_uuid") if isinstance(raw, dict) else None
    try:
        item = SyncItemIn().load(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        return _rejected(client_uuid if isinstance(client_uuid, str) else None, 422,
                         "the item is not valid", flatten_messages(exc.messages))
    return HANDLERS[item["kind"]](session, actor, item, now, ip)


def sync(session: Session, actor: User, batch: dict, *, max_items: int, now: datetime,
         ip=None) -> list[dict]:
    """One result per item, in order; a bad item is rejected without stopping the others."""
    scope.case_clause(actor)
    items = batch["items"]
    if len(items) > max_items:
        raise TooLarge(f"at most {max_items} items a call")
    results = [_sync_item(session, actor, raw, now, ip) for raw in items]
    counts = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    audit.record(session, "sync", actor=actor, object_type="device", ip=ip, now=now,
                 detail={"items": len(items), **counts})
    return results
