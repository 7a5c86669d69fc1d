"""Staff accounts, as admins manage them: create, deactivate, reactivate, reset a password.

New and reset passwords are made here, random, and shown once to the admin who asked;
they are never stored in clear nor written to the audit log. Deactivating an account or
resetting its password ends every session and token it has.
"""

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Conflict, Forbidden, NotFound
from referral.models import ApiToken, User
from referral.services import audit, auth

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to confuse when read aloud


def new_password() -> str:
    """Random and easy to type: four groups of four (about 79 bits)."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(4))


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden("only admins manage accounts")


def _account(session: Session, user_id) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def _end_sessions(session: Session, user: User, now: datetime) -> int:
    return session.execute(
        sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                  ApiToken.expires_at > now)
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount


def list_users(session: Session, actor: User) -> list[User]:
    _require_admin(actor)
    return list(session.scalars(sa.select(User).order_by(User.active.desc(), User.role,
                                                         User.username)))


def create(session: Session, actor: User, *, username: str, role: str,
           facility_code: str | None, locale: str, now: datetime, ip=None) -> tuple[User, str]:
    """A new account with a random password, returned once."""
    _require_admin(actor)
    password = new_password()
    user = auth.create_user(session, username.strip(), password, role, facility_code or None,
                            locale=locale)
    audit.record(session, "user_created", actor=actor, object_type="user", object_id=user.id,
                 ip=ip, now=now, detail={"role": role})
    return user, password


def set_active(session: Session, actor: User, user_id, active: bool, *, now: datetime,
               ip=None) -> User:
    """Deactivate (ending its sessions) or reactivate an account; never one's own."""
    _require_admin(actor)
    user = _account(session, user_id)
    if user.id == actor.id:
        raise Conflict("an admin cannot deactivate their own account")
    if user.active != active:
        user.active = active
        ended = 0 if active else _end_sessions(session, user, now)
        session.flush()
        audit.record(session, "user_reactivated" if active else "user_deactivated",
                     actor=actor, object_type="user", object_id=user.id, ip=ip, now=now,
                     detail=None if active else {"sessions_ended": ended})
    return user


def reset_password(session: Session, actor: User, user_id, *, now: datetime,
                   ip=None) -> tuple[User, str]:
    """A new random password (returned once); the account's sessions end."""
    _require_admin(actor)
    user = _account(session, user_id)
    password = new_password()
    user.password_hash = auth.hash_password(password)
    ended = _end_sessions(session, user, now)
    session.flush()
    audit.record(session, "password_reset", actor=actor, object_type="user", object_id=user.id,
                 ip=ip, now=now, detail={"sessions_ended": ended})
    return user, password
