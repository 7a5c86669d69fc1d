"""The service directory: find, create and update facilities, their capacity, and imports.

A confidential facility (a shelter for trafficking survivors) takes part in everything,
but where it is (latitude, longitude, street address) is shown only to admins and to its
own staff: `seen_by` gives the facility as one user may see it.
"""

from datetime import datetime

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral.errors import Forbidden, Invalid, NotFound, flatten_messages
from referral.models import Facility, FacilityService, User
from referral.schemas.facility import LOCATION_FIELDS, FacilityIn
from referral.services import audit

FACILITY_ROLES = ("promoter", "facility_staff")
ACCEPTS = {"minors": "accepts_minors", "women_only": "accepts_women_only",
           "trafficking_survivors": "accepts_trafficking_survivors"}
API_NAMES = {attr: f"accepts.{key}" for key, attr in ACCEPTS.items()}
FIELDS = ("code", "name", "kind", "country", "admin_area", "address", "latitude", "longitude",
          "timezone", "services", "languages", "capacity_total", "capacity_available",
          *ACCEPTS.values(), "confidential", "active")
# What a facility holds when a request leaves a field out (the model's defaults).
NEW = dict.fromkeys(FIELDS) | {
    "services": [], "languages": [], "accepts_minors": True, "accepts_women_only": False,
    "accepts_trafficking_survivors": False, "confidential": False, "active": True,
}
CODE_TAKEN = "Already used by another facility."


def location_visible(facility: Facility, user: User | None) -> bool:
    """Admins and the facility's own staff may see where a confidential facility is."""
    if not facility.confidential:
        return True
    if user is None:
        return False
    return user.role == "admin" or (
        user.role in FACILITY_ROLES and user.facility_id == facility.id)


class Seen:
    """A facility as one user may see it: a hidden location reads as None."""

    def __init__(self, facility: Facility, user: User | None):
        self.facility = facility
        self.location_visible = location_visible(facility, user)

    def __getattr__(self, name):
        if name in LOCATION_FIELDS and not self.location_visible:
            return None
        return getattr(self.facility, name)


def seen_by(facility: Facility, user: User | None) -> Seen:
    return Seen(facility, user)


def list_facilities(session: Session, *, page: int, per_page: int, kind=None, country=None,
                    service=None, active=None) -> tuple[list[Facility], int]:
    """One page of the directory, by name, with the total that matches the filters."""
    query = sa.select(Facility)
    if kind:
        query = query.where(Facility.kind == kind)
    if country:
        query = query.where(Facility.country == country)
    if service:
        query = query.where(Facility.service_rows.any(FacilityService.code == service))
    if active is not None:
        query = query.where(Facility.active == active)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(Facility.name, Facility.code)
                            .limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def get_facility(session: Session, facility_id) -> Facility:
    facility = session.get(Facility, facility_id)
    if facility is None:
        raise NotFound()
    return facility


def _require_admin(actor: User) -> None:
    if actor is None or actor.role != "admin":
        raise Forbidden("only admins keep the directory")


def _flatten(data: dict) -> dict:
    """API shape to model attributes: the `accepts` object becomes three columns."""
    values = {name: value for name, value in data.items() if name != "accepts"}
    for key, value in (data.get("accepts") or {}).items():
        values[ACCEPTS[key]] = value
    return values


def _state(facility: Facility | None) -> dict:
    if facility is None:
        return dict(NEW)
    return {name: getattr(facility, name) for name in FIELDS}


def _changes(current: dict, values: dict) -> dict:
    return {name: value for name, value in values.items() if current[name] != value}


def _problems(merged: dict, changed) -> dict:
    """Rules across fields, on the facility as it would be after the change."""
    errors = {}
    if (merged["latitude"] is None) != (merged["longitude"] is None):
        missing = "latitude" if merged["latitude"] is None else "longitude"
        errors[missing] = ["Give latitude and longitude together."]
    total, available = merged["capacity_total"], merged["capacity_available"]
    if total is not None and available is not None and available > total:
        if "capacity_available" in changed or "capacity_total" not in changed:
            errors["capacity_available"] = [f"Must not exceed capacity_total ({total})."]
        else:
            errors["capacity_total"] = [f"Must not be below capacity_available ({available})."]
    return errors


def _code_taken(session: Session, code: str, facility_id=None) -> bool:
    query = sa.select(Facility.id).where(Facility.code == code)
    if facility_id is not None:
        query = query.where(Facility.id != facility_id)
    return session.scalar(query) is not None


def _check(session: Session, current: dict, changes: dict, facility_id=None) -> None:
    errors = _problems(current | changes, changes.keys())
    if "code" in changes and _code_taken(session, changes["code"], facility_id):
        errors["code"] = [CODE_TAKEN]
    if errors:
        raise Invalid("the facility is not valid", fields=errors)


def _flush(session: Session) -> None:
    # Two admins creating the same code at once: the unique index decides, and the loser
    # gets the same 422 as a code that was already taken.
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Invalid("the facility is not valid", fields={"code": [CODE_TAKEN]}) from None


def _names(changes: dict) -> list[str]:
    return sorted(API_NAMES.get(name, name) for name in changes)


def _insert(session: Session, values: dict, now: datetime) -> Facility:
    # Fresh lists: NEW's defaults must never be shared between rows.
    facility = Facility(**{name: list(value) if isinstance(value, list) else value
                           for name, value in (NEW | values).items()})
    if facility.capacity_available is not None:
        facility.capacity_updated_at = now
    session.add(facility)
    return facility


def _assign(facility: Facility, changes: dict, now: datetime) -> None:
    for name, value in changes.items():
        setattr(facility, name, value)
    if "capacity_available" in changes:
        facility.capacity_updated_at = now
    facility.updated_at = now


def create_facility(session: Session, actor: User, data: dict, *, now: datetime,
                    ip=None) -> Facility:
    """Add a facility to the directory (admins)."""
    _require_admin(actor)
    values = _flatten(data)
    _check(session, _state(None), values)
    facility = _insert(session, values, now)
    _flush(session)
    audit.record(session, "facility_created", actor=actor, object_type="facility",
                 object_id=facility.id, ip=ip, now=now, detail={"fields": _names(values)})
    return facility


def update_facility(session: Session, actor: User, facility_id, data: dict, *,
                    now: datetime, ip=None) -> Facility:
    """Change some fields of a facility (admins); a change to nothing is not recorded."""
    _require_admin(actor)
    facility = get_facility(session, facility_id)
    current = _state(facility)
    changes = _changes(current, _flatten(data))
    if changes:
        _check(session, current, changes, facility.id)
        _assign(facility, changes, now)
        _flush(session)
        audit.record(session, "facility_updated", actor=actor, object_type="facility",
                     object_id=facility.id, ip=ip, now=now, detail={"fields": _names(changes)})
    return facility


def may_set_capacity(user: User, facility: Facility) -> bool:
    return user.role == "admin" or (
        user.role in FACILITY_ROLES and user.facility_id == facility.id)


def set_capacity(session: Session, actor: User, facility_id, available: int, *,
                 now: datetime, ip=None) -> Facility:
    """Record the places free now; the timestamp moves even when the figure does not."""
    facility = get_facility(session, facility_id)
    if not may_set_capacity(actor, facility):
        raise Forbidden("only admins and the facility's own staff set its capacity")
    total = facility.capacity_total
    if available < 0 or (total is not None and available > total):
        limit = f"between 0 and capacity_total ({total})" if total is not None else "0 or more"
        raise Invalid("the capacity is not valid",
                      fields={"capacity_available": [f"Must be {limit}."]})
    changed = ["capacity_updated_at"]
    if facility.capacity_available != available:
        changed.insert(0, "capacity_available")
    facility.capacity_available = available
    facility.capacity_updated_at = facility.updated_at = now
    session.flush()
    audit.record(session, "facility_capacity_set", actor=actor, object_type="facility",
                 object_id=facility.id, ip=ip, now=now, detail={"fields": changed})
    return facility


def _load_items(items) -> tuple[list[dict | None], dict]:
    """Each item through FacilityIn; errors keyed `<index>.<field>`."""
    if not isinstance(items, list):
        raise Invalid("expected a JSON array of facilities",
                      fields={"_body": ["Must be a JSON array."]})
    schema, loaded, errors = FacilityIn(), [], {}
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValidationError({"": ["Must be a JSON object."]})
            loaded.append(schema.load(item))
        except ValidationError as exc:
            loaded.append(None)
            for field, messages in flatten_messages(exc.messages).items():
                key = f"{index}.{field}" if field not in ("", "_body") else str(index)
                errors[key] = messages
    return loaded, errors


def import_facilities(session: Session, items, actor: User | None, now: datetime,
                      ip=None) -> dict[str, int]:
    """Create or update facilities by code from API-shaped objects; all or nothing.

    Fields an item leaves out keep their current value (live capacity survives a
    re-import of the directory). Raises Invalid, keyed `<index>.<field>`, before writing."""
    loaded, errors = _load_items(items)
    codes = [data["code"] for data in loaded if data]
    existing = {f.code: f for f in session.scalars(
        sa.select(Facility).where(Facility.code.in_(codes)))} if codes else {}
    plans, first = [], {}
    for index, (item, data) in enumerate(zip(items, loaded, strict=True)):
        code = item.get("code") if isinstance(item, dict) else None
        if isinstance(code, str):
            if code in first:
                errors[f"{index}.code"] = [f"Repeats the code of item {first[code]}."]
                continue
            first[code] = index
        if data is None:
            continue
        facility = existing.get(data["code"])
        current = _state(facility)
        changes = _changes(current, _flatten(data)) if facility else _flatten(data)
        for field, messages in _problems(current | changes, changes.keys()).items():
            errors[f"{index}.{field}"] = messages
        plans.append((facility, changes))
    if errors:
        raise Invalid("the facilities cannot be imported", fields=errors)

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for facility, changes in plans:
        if facility is None:
            facility, outcome = _insert(session, changes, now), "created"
        elif changes:
            _assign(facility, changes, now)
            outcome = "updated"
        else:
            counts["unchanged"] += 1
            continue
        counts[outcome] += 1
        _flush(session)
        audit.record(session, f"facility_{outcome}", actor=actor, object_type="facility",
                     object_id=facility.id, ip=ip, now=now,
                     detail={"fields": _names(changes), "source": "import"})
    return counts
