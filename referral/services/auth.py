"""Passwords (argon2id), bearer tokens (SHA-256 of 256 random bits) and login throttling.

Throttling counts failures in the database, so it holds across gunicorn workers.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy.orm import Session

from referral.errors import Invalid, RateLimited, Unauthorized
from referral.i18n import LANGUAGES
from referral.models import ApiToken, Facility, LoginFailure, User
from referral.models.codes import ROLES
from referral.services import audit

FACILITY_ROLES = ("promoter", "facility_staff")
MIN_PASSWORD_LENGTH = 12


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# A hash to verify against when the username is unknown, so both answers take as long.
def _dummy_hash() -> str:
    ext = current_app.extensions
    if "referral.dummy_hash" not in ext:
        ext["referral.dummy_hash"] = hash_password(secrets.token_urlsafe(16))
    return ext["referral.dummy_hash"]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()


def create_user(session: Session, username: str, password: str, role: str,
                facility_code: str | None = None, locale: str = "es") -> User:
    """Create a staff account; facility roles need a facility."""
    errors = {}
    if role not in ROLES:
        errors["role"] = [f"Must be one of: {', '.join(ROLES)}."]
    if not username or len(username) > 80:
        errors["username"] = ["Must be 1 to 80 characters."]
    elif session.scalar(sa.select(User.id).where(sa.func.lower(User.username)
                                                 == username.lower())):
        errors["username"] = ["Already taken."]
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Must be at least {MIN_PASSWORD_LENGTH} characters."]
    facility = None
    if facility_code:
        facility = session.scalar(sa.select(Facility).where(Facility.code == facility_code))
        if facility is None:
            errors["facility"] = ["No facility with this code."]
    elif role in FACILITY_ROLES:
        errors["facility"] = ["Required for this role."]
    if errors:
        raise Invalid("the user cannot be created", fields=errors)
    user = User(username=username, password_hash=hash_password(password), role=role,
                facility_id=facility.id if facility else None, locale=locale)
    session.add(user)
    session.flush()
    return user


def _check_throttle(session: Session, username: str, address: str | None, now: datetime):
    cfg = current_app.config
    window = timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    limits = [("username", _key(username), cfg["LOGIN_MAX_FAILURES_PER_USER"])]
    if address:
        limits.append(("address", _key(address), cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]))
    for kind, key, limit in limits:
        count, oldest = session.execute(
            sa.select(sa.func.count(), sa.func.min(LoginFailure.at)).where(
                LoginFailure.kind == kind, LoginFailure.key == key,
                LoginFailure.at > now - window,
            )
        ).one()
        if count >= limit:
            raise RateLimited(retry_after=((oldest + window) - now).total_seconds() + 1)


def _record_failure(session: Session, username: str, address: str | None, now: datetime):
    session.add(LoginFailure(kind="username", key=_key(username), at=now))
    if address:
        session.add(LoginFailure(kind="address", key=_key(address), at=now))
    session.flush()


def login(session: Session, username: str, password: str, address: str | None,
          now: datetime) -> tuple[str, ApiToken]:
    """Check credentials and issue a token. Raises RateLimited or Unauthorized.

    Failures are flushed before raising: the caller commits them even on error."""
    _check_throttle(session, username, address, now)
    user = session.scalar(sa.select(User).where(sa.func.lower(User.username)
                                                == username.strip().lower()))
    hasher = _hasher()
    try:
        hasher.verify(user.password_hash if user else _dummy_hash(), password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        _record_failure(session, username, address, now)
        audit.record(session, "login_failed", ip=address, now=now)
        raise Unauthorized("wrong username or password")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.execute(sa.delete(LoginFailure).where(
        LoginFailure.kind == "username", LoginFailure.key == _key(username)))
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, digest=token_digest(token),
                      expires_at=now + timedelta(seconds=current_app.config["TOKEN_TTL"]))
    record.user = user
    session.add(record)
    audit.record(session, "login", actor=user, object_type="user", object_id=user.id,
                 ip=address, now=now)
    return token, record


def token_for(session: Session, token: str, now: datetime) -> ApiToken | None:
    """The live token record for a presented token (one indexed lookup), or None."""
    record = session.scalar(sa.select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    if not record.user.active:
        return None
    return record


def logout(session: Session, record: ApiToken, address: str | None, now: datetime) -> None:
    record.revoked_at = now
    audit.record(session, "logout", actor=record.user, object_type="user",
                 object_id=record.user_id, ip=address, now=now)


def set_locale(session: Session, user: User, locale: str) -> None:
    """The language of the pages for this user, from now on and on every device."""
    if locale not in LANGUAGES:
        raise Invalid(fields={"locale": [f"Must be one of: {', '.join(LANGUAGES)}."]})
    user.locale = locale
    session.flush()
