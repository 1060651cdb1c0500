"""Failed sign-ins, per account and per client address, kept in the registry so that every API
worker sees the same counts. After a few failures each further try must wait (1, 2, 4... seconds
after the last failure); after more, the account or address is locked for a while. Refused tries
cost no password check and are not counted. Every failure, refusal and lock is logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.registry.models import LoginFailures
from tecwatch.settings import ApiSettings

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
FORGET_AFTER = timedelta(hours=1)  # failures this old no longer count


@dataclass(frozen=True)
class Rule:
    free: int  # failures before any wait
    lock_after: int  # failures that lock
    lock_for: timedelta


@dataclass(frozen=True)
class Policy:
    account: Rule
    address: Rule

    @classmethod
    def from_settings(cls, api: ApiSettings) -> Policy:
        lock_for = timedelta(minutes=api.login_lockout_minutes)
        k = api.login_address_factor
        return cls(Rule(api.login_free_failures, api.login_lockout_failures, lock_for),
                   Rule(api.login_free_failures * k, api.login_lockout_failures * k, lock_for))

    def rule(self, scope: str) -> Rule:
        return self.account if scope == "account" else self.address


@dataclass(frozen=True)
class Refusal:
    scope: str
    wait_s: float
    locked: bool


def subjects(username: str, address: str) -> list[tuple[str, str]]:
    return [("account", username.strip().lower()[:200]), ("address", address[:200])]


def _wait(row: LoginFailures, rule: Rule, now: datetime) -> tuple[float, bool]:
    """Seconds this subject must still wait, and whether that is a lock."""
    if row.locked_until is not None:
        return max((row.locked_until - now).total_seconds(), 0.0), True
    if row.last_failure_at < now - FORGET_AFTER or row.failures < rule.free:
        return 0.0, False
    backoff = min(timedelta(seconds=2 ** (row.failures - rule.free)), MAX_BACKOFF)
    return max((row.last_failure_at + backoff - now).total_seconds(), 0.0), False


def refusal(session: Session, keys: list[tuple[str, str]], policy: Policy, now: datetime) -> Refusal | None:
    """Why a sign-in with these subjects may not be tried yet, if it may not."""
    worst: Refusal | None = None
    for scope, subject in keys:
        row = session.get(LoginFailures, (scope, subject))
        if row is None:
            continue
        wait, locked = _wait(row, policy.rule(scope), now)
        if wait > 0 and (worst is None or wait > worst.wait_s):
            worst = Refusal(scope, wait, locked)
    if worst is not None:
        log.warning("sign-in refused for %s=%s: %s, %.0f s to wait", worst.scope, dict(keys)[worst.scope],
                    "locked" if worst.locked else "backing off", worst.wait_s)
    return worst


def record_failure(session: Session, keys: list[tuple[str, str]], policy: Policy, now: datetime) -> None:
    # Forgotten failures and spent locks start the count afresh; the UPDATE is atomic, so
    # workers counting at once do not lose failures.
    stale = or_(LoginFailures.last_failure_at < now - FORGET_AFTER, LoginFailures.locked_until <= now)
    session.execute(delete(LoginFailures).where(LoginFailures.last_failure_at < now - FORGET_AFTER,
                                                or_(LoginFailures.locked_until.is_(None), LoginFailures.locked_until <= now)))
    for scope, subject in keys:
        where = (LoginFailures.scope == scope, LoginFailures.subject == subject)
        bumped = update(LoginFailures).where(*where).values(
            failures=case((stale, 1), else_=LoginFailures.failures + 1), last_failure_at=now,
            locked_until=case((LoginFailures.locked_until <= now, None), else_=LoginFailures.locked_until))
        if not session.execute(bumped).rowcount:
            try:
                with session.begin_nested():
                    session.execute(insert(LoginFailures).values(scope=scope, subject=subject, failures=1,
                                                                 last_failure_at=now, locked_until=None))
            except IntegrityError:  # another worker inserted it first
                session.execute(bumped)
        failures, locked_until = session.execute(select(LoginFailures.failures, LoginFailures.locked_until).where(*where)).one()
        rule = policy.rule(scope)
        log.info("failed sign-in for %s=%s (%d in a row)", scope, subject, failures)
        if failures >= rule.lock_after and locked_until is None:
            session.execute(update(LoginFailures).where(*where).values(locked_until=now + rule.lock_for))
            log.warning("%s %s locked for %.0f minutes after %d failed sign-ins", scope, subject,
                        rule.lock_for.total_seconds() / 60, failures)


def record_success(session: Session, username: str) -> None:
    """The account's count starts again; the address's does not, or one good account would let
    an address try every other one."""
    session.execute(delete(LoginFailures).where(LoginFailures.scope == "account",
                                                LoginFailures.subject == username.strip().lower()[:200]))
