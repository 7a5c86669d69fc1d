"""Offline batches from tablets: each item on its own, replays harmless (API.md, Offline sync)."""

from datetime import datetime

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from referral.errors import CODES, DomainError, TooLarge, flatten_messages
from referral.models import Case, User
from referral.schemas.case import CaseIn
from referral.schemas.referral import OfflineReferralIn
from referral.schemas.sync import SyncItemIn
from referral.services import audit, intake, referrals, scope


def _rejected(client_uuid, status: int, message: str, fields=None) -> dict:
    error = {"code": CODES[status], "message": message}
    if fields:
        error["fields"] = fields
    return {"client_uuid": client_uuid, "status": "rejected", "id": None, "error": error}


def _payload(item: dict, schema):
    """The item's payload validated, with the item's client_uuid; or a rejection."""
    client_uuid = str(item["client_uuid"])
    payload = dict(item["payload"])
    if payload.get("client_uuid") not in (None, client_uuid):
        return None, _rejected(client_uuid, 422,
                               "the payload's client_uuid differs from the item's",
                               {"payload.client_uuid": ["Must match the item's client_uuid."]})
    payload["client_uuid"] = client_uuid
    try:
        return schema().load(payload), None
    except ValidationError as exc:
        return None, _rejected(client_uuid, 422, f"the {item['kind']} is not valid",
                               flatten_messages(exc.messages, "payload"))


def _create(session: Session, client_uuid: str, create) -> dict:
    try:
        with session.begin_nested():
            obj, created = create()
    except DomainError as exc:
        fields = {f"payload.{k}": v for k, v in (exc.fields or {}).items()} or None
        return _rejected(client_uuid, exc.status, exc.message, fields)
    return {"client_uuid": client_uuid, "status": "created" if created else "duplicate",
            "id": str(obj.id), "error": None}


def _sync_case(session: Session, actor: User, item: dict, now: datetime, ip) -> dict:
    data, rejected = _payload(item, CaseIn)
    if rejected:
        return rejected
    return _create(session, str(item["client_uuid"]),
                   lambda: intake.create_case(session, actor, data, now=now, ip=ip))


def _sync_referral(session: Session, actor: User, item: dict, now: datetime, ip) -> dict:
    """A referral made offline names its case by the case's client_uuid (API.md)."""
    data, rejected = _payload(item, OfflineReferralIn)
    if rejected:
        return rejected
    case_id = session.scalar(sa.select(Case.id).where(
        Case.client_uuid == data.pop("case_client_uuid"),
        Case.facility_id == actor.facility_id))
    if case_id is None:
        return _rejected(str(item["client_uuid"]), 422, "the referral's case is not synced",
                         {"payload.case_client_uuid": [
                             "No case with this client_uuid was synced from this facility."]})
    data["case_id"] = case_id
    return _create(session, str(item["client_uuid"]),
                   lambda: referrals.create(session, actor, data, now=now, ip=ip))


HANDLERS = {"case": _sync_case, "referral": _sync_referral}


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
