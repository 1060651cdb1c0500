"""Looking after accounts: signing out (the token is revoked), disabling and enabling, password
resets and changes (every session of the account ends at once), and API keys. The API, the pages
and the CLI all call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.api.access import Principal, UserError
from tecwatch.registry.models import ApiKey, RevokedToken, User, UserRole


class NoSuchAccount(LookupError):
    pass


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    role: UserRole
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    id: int
    username: str
    name: str
    prefix: str  # the first characters of the key, to tell keys apart
    created_at: datetime
    revoked_at: datetime | None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NoSuchAccount(f"no user {username!r}")
    return user


def sign_out(session: Session, who: Principal, now: datetime | None = None) -> None:
    """Revoke the token this principal came with (an API key is revoked with ``revoke_api_key``)."""
    now = _now(now)
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))  # past use anyway
    if who.token_id and who.token_expires and session.get(RevokedToken, who.token_id) is None:
        session.add(RevokedToken(jti=who.token_id, user_id=who.user_id, expires_at=who.token_expires))


def end_sessions(user: User) -> None:
    user.token_version += 1


def set_password(session: Session, username: str, password: str) -> Principal:
    """A new password (an admin's reset or the user's own change): every session ends."""
    user = _user(session, username)
    access.check_new_password(password, username)
    user.password_hash = access.hash_password(password)
    end_sessions(user)
    session.flush()
    return Principal(user.id, user.username, UserRole(user.role), user.responder_id, user.token_version)


def set_active(session: Session, username: str, active: bool, by: Principal | None = None) -> Account:
    user = _user(session, username)
    if not active and by is not None and by.user_id == user.id:
        raise UserError("you cannot disable your own account")
    if user.active and not active:
        end_sessions(user)
    user.active = active
    return _account(user)


def get_account(session: Session, username: str) -> Account:
    return _account(_user(session, username))


def list_accounts(session: Session, limit: int = 100, offset: int = 0) -> tuple[list[Account], int]:
    total = session.scalar(select(func.count()).select_from(User)) or 0
    users = session.scalars(select(User).order_by(User.username).limit(limit).offset(offset)).all()
    return [_account(u) for u in users], total


def list_api_keys(session: Session, username: str | None = None) -> list[KeyInfo]:
    q = select(ApiKey, User.username).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)
    if username:
        q = q.where(User.username == username)
    return [KeyInfo(k.id, name, k.name, k.prefix, k.created_at, k.revoked_at) for k, name in session.execute(q)]


def revoke_api_key(session: Session, key_id: int, now: datetime | None = None) -> KeyInfo:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NoSuchAccount(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = _now(now)
    owner = session.get(User, key.user_id)
    return KeyInfo(key.id, owner.username, key.name, key.prefix, key.created_at, key.revoked_at)


def _account(user: User) -> Account:
    return Account(user.username, user.display_name, UserRole(user.role), user.active, user.created_at)
