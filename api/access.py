"""Who is asking and what they may see: users, passwords (argon2), tokens (JWT), API keys,
family members' consented residents, and the access log of every read of a person's data."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.api import passwords
from tecwatch.registry.models import (
    AccessLog, ApiKey, FamilyConsent, Resident, Responder, RevokedToken, User, UserRole,
)

_HASHER = PasswordHasher()  # stateless: safe to share between threads and workers
_ALGORITHM = "HS256"
KEY_PREFIX = "tw_"
# Roles that see every home (coordinators enrol them); family members see only consented residents' homes.
ALL_HOMES = frozenset({UserRole.OPERATOR, UserRole.RESPONDER, UserRole.ADMIN, UserRole.COORDINATOR})
MIN_PASSWORD = passwords.MIN_PASSWORD
# An access-log row's outcome: the data was sent, or the attempt was refused.
ALLOWED, DENIED = "allowed", "denied"


class AuthError(Exception):
    """Credentials missing, wrong or expired (HTTP 401)."""


class UserError(ValueError):
    """A user or key cannot be created as asked (HTTP 422/409)."""


class UsernameTaken(UserError):
    """Another account already has this username."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: UserRole
    responder_id: int | None
    token_version: int = 0
    # Set when signed in with a token (not an API key): what signing out revokes.
    token_id: str | None = None
    token_expires: datetime | None = None


@dataclass(frozen=True)
class Credentials:
    """What checking a password needs, read in a short transaction so that no database
    connection is held while argon2 works."""

    user_id: int | None
    password_hash: str
    active: bool


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_new_password(password: str, username: str) -> None:
    problem = passwords.weakness(password, username)
    if problem:
        raise UserError(problem)


def create_user(session: Session, username: str, password: str, role: UserRole, *, display_name: str = "",
                responder_id: int | None = None, now: datetime | None = None) -> User:
    check_new_password(password, username)
    if role is UserRole.FAMILY and responder_id is None:
        raise UserError("a family member's account must be linked to their responder record")
    if responder_id is not None and session.get(Responder, responder_id) is None:
        raise UserError(f"there is no responder {responder_id}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsernameTaken(f"the username {username!r} is taken")
    user = User(username=username, display_name=display_name or username, password_hash=hash_password(password),
                role=role, responder_id=responder_id, active=True, created_at=now or datetime.now(timezone.utc),
                token_version=0)
    session.add(user)
    session.flush()
    return user


def credentials(session: Session, username: str) -> Credentials:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        # Hash anyway when the user is unknown, so timing does not tell which usernames exist.
        return Credentials(None, _DUMMY_HASH, False)
    return Credentials(user.id, user.password_hash, user.active)


def password_matches(creds: Credentials, password: str) -> bool:
    """The slow part (argon2): call it with no transaction open."""
    try:
        _HASHER.verify(creds.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return creds.user_id is not None and creds.active


def signed_in(session: Session, creds: Credentials, password: str) -> Principal:
    """After ``password_matches``: the account as it is now (it may have changed meanwhile)."""
    user = session.get(User, creds.user_id)
    if user is None or not user.active or user.password_hash != creds.password_hash:
        raise AuthError("wrong username or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _principal(user)


def authenticate(session: Session, username: str, password: str) -> Principal:
    """Check a password in one go (the CLI and tests; the API goes through api.signin)."""
    creds = credentials(session, username)
    if not password_matches(creds, password):
        raise AuthError("wrong username or password")
    return signed_in(session, creds, password)


def issue_token(principal: Principal, secret: str, ttl: timedelta, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    claims = {"sub": principal.username, "uid": principal.user_id, "ver": principal.token_version,
              "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def principal_from_token(session: Session, token: str, secret: str, now: datetime | None = None) -> Principal:
    now = now or datetime.now(timezone.utc)
    try:
        # Expiry is checked below against ``now``, so that one clock decides everywhere.
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                            options={"require": ["exp", "sub", "uid", "jti", "ver"], "verify_exp": False,
                                     "verify_iat": False})
    except jwt.InvalidTokenError:
        raise AuthError("the token is not valid") from None
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= now.timestamp():
        raise AuthError("the session has expired: sign in again")
    # The role, active flag and token version are read afresh, so a change takes effect at once.
    user = session.get(User, claims["uid"]) if isinstance(claims["uid"], int) else None
    if user is None or not user.active or user.username != claims["sub"]:
        raise AuthError("the account no longer exists or is disabled")
    if claims["ver"] != user.token_version or session.get(RevokedToken, str(claims["jti"])[:64]) is not None:
        raise AuthError("this session has been signed out: sign in again")
    return _principal(user, str(claims["jti"]), datetime.fromtimestamp(claims["exp"], timezone.utc))


def create_api_key(session: Session, user_id: int, name: str, now: datetime | None = None) -> str:
    """A new key for an integration, returned once; only its hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user_id, name=name, prefix=key[:10], key_hash=_key_hash(key),
                       created_at=now or datetime.now(timezone.utc)))
    session.flush()
    return key


@dataclass(frozen=True)
class Credential:
    """What a request came with: kept by a long-lived answer (the live stream) to check again."""

    kind: str  # "token" or "api_key"
    value: str


def principal_from(session: Session, credential: Credential, secret: str, now: datetime | None = None) -> Principal:
    """The principal a credential stands for now: disabled accounts, revoked tokens and keys, old
    token versions and expired tokens all raise AuthError."""
    if credential.kind == "api_key":
        return principal_from_api_key(session, credential.value)
    return principal_from_token(session, credential.value, secret, now)


def principal_from_api_key(session: Session, key: str) -> Principal:
    if len(key) > 200:
        raise AuthError("the API key is not valid")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _key_hash(key), ApiKey.revoked_at.is_(None)))
    user = session.get(User, row.user_id) if row is not None else None
    if user is None or not user.active:
        raise AuthError("the API key is not valid")
    return _principal(user)


def visible_home_ids(session: Session, principal: Principal) -> set[str] | None:
    """The homes this principal may see; None means every home. Commissioners see none."""
    if principal.role in ALL_HOMES:
        return None
    if principal.role is not UserRole.FAMILY or principal.responder_id is None:
        return set()
    return set(session.scalars(select(Resident.home_id).join(FamilyConsent, FamilyConsent.resident_id == Resident.id)
                               .where(FamilyConsent.responder_id == principal.responder_id,
                                      FamilyConsent.revoked_at.is_(None))))


def visible_resident_ids(session: Session, principal: Principal) -> set[int] | None:
    if principal.role in ALL_HOMES:
        return None
    if principal.role is not UserRole.FAMILY or principal.responder_id is None:
        return set()
    return set(session.scalars(select(FamilyConsent.resident_id).where(
        FamilyConsent.responder_id == principal.responder_id, FamilyConsent.revoked_at.is_(None))))


def can_see_home(session: Session, principal: Principal, home_id: str) -> bool:
    homes = visible_home_ids(session, principal)
    return homes is None or home_id in homes


def log_access(session: Session, principal: Principal, action: str, *, home_id: str | None = None,
               resident_id: int | None = None, alert_id: int | None = None, outcome: str = ALLOWED,
               detail: str = "", now: datetime | None = None) -> None:
    log_entry(session, principal.username, principal.role, action, home_id=home_id, resident_id=resident_id,
              alert_id=alert_id, outcome=outcome, detail=detail, now=now)


def log_denied(session: Session, principal: Principal, action: str, *, home_id: str | None = None,
               resident_id: int | None = None, alert_id: int | None = None, detail: str = "",
               now: datetime | None = None) -> None:
    """A refused attempt: what was asked for, with nothing of it sent (never a read of it)."""
    log_access(session, principal, action, home_id=home_id, resident_id=resident_id, alert_id=alert_id,
               outcome=DENIED, detail=detail, now=now)


def log_link_use(session: Session, responder: Responder, action: str, home_id: str, alert_id: int,
                 now: datetime) -> None:
    """Someone acting through a notification's acknowledge link has no account: the row names the
    responder the link was made for."""
    log_entry(session, f"responder {responder.id} (acknowledge link)", None, action, home_id=home_id,
              alert_id=alert_id, detail=responder.name, now=now)


def log_entry(session: Session, username: str, role: UserRole | None, action: str, *, home_id: str | None = None,
              resident_id: int | None = None, alert_id: int | None = None, outcome: str = ALLOWED,
              detail: str = "", now: datetime | None = None) -> None:
    """One access-log row; ``role`` is None for someone without an account (an acknowledge
    link's holder, the command line). Values are cut to their columns: a row is never lost
    for being long."""
    session.add(AccessLog(at=now or datetime.now(timezone.utc), username=username[:100], role=role,
                          action=action[:80], outcome=outcome, home_id=home_id[:64] if home_id else home_id,
                          resident_id=resident_id, alert_id=alert_id, detail=detail[:300]))


def _principal(user: User, token_id: str | None = None, token_expires: datetime | None = None) -> Principal:
    return Principal(user.id, user.username, UserRole(user.role), user.responder_id, user.token_version, token_id,
                     token_expires)


def _key_hash(key: str) -> str:
    # The key is 256 random bits: a plain hash is enough, and lookups by hash stay indexed.
    return hashlib.sha256(key.encode()).hexdigest()


_DUMMY_HASH = _HASHER.hash("an unused password")


def user_id(session: Session, username: str) -> int | None:
    return session.scalar(select(User.id).where(User.username == username))
