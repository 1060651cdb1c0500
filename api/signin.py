"""Signing in, as the API and the pages both do it: throttled per account and address, with the
password check (argon2, deliberately slow) bounded to a few at once and done with no database
connection held, so that a flood of bad sign-ins cannot starve everything else."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.api import access, accounts, throttle
from tecwatch.api.access import AuthError, Principal
from tecwatch.settings import ApiSettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class SignInRefused(Exception):
    """Not tried now: ``status`` 429 (too many failures) or 503 (too busy), retry after ``retry_after`` s."""

    def __init__(self, message: str, status: int, retry_after: float):
        super().__init__(message)
        self.status = status
        self.retry_after = max(1, int(retry_after + 0.999))


@dataclass
class SignInService:
    """One per app: the registry, the rules, and the bound on password checks at once."""

    engine: Engine
    api: ApiSettings
    clock: Clock = wall_clock

    def __post_init__(self) -> None:
        self.policy = throttle.Policy.from_settings(self.api)
        self._checks = threading.BoundedSemaphore(self.api.password_checks_at_once)

    def sign_in(self, username: str, password: str, address: str) -> Principal:
        keys = throttle.subjects(username, address)
        with Session(self.engine) as s, s.begin():
            refused = throttle.refusal(s, keys, self.policy, self.clock())
            creds = access.credentials(s, username)
        if refused is not None:
            what = "this account" if refused.scope == "account" else "this address"
            raise SignInRefused(f"too many failed sign-ins for {what}: try again in {refused.wait_s:.0f} s",
                                429, refused.wait_s)
        if not self._checks.acquire(timeout=self.api.password_check_wait_s):
            log.warning("sign-in for %s turned away: %d password checks already running", username,
                        self.api.password_checks_at_once)
            raise SignInRefused("the service is busy signing people in: try again in a moment", 503, 2)
        try:
            ok = access.password_matches(creds, password)
        finally:
            self._checks.release()
        with Session(self.engine) as s, s.begin():
            if not ok:
                throttle.record_failure(s, keys, self.policy, self.clock())
            else:
                throttle.record_success(s, username)
                try:
                    return access.signed_in(s, creds, password)
                except AuthError:  # changed meanwhile (disabled, or a new password)
                    throttle.record_failure(s, keys, self.policy, self.clock())
        raise AuthError("wrong username or password")

    def change_password(self, who: Principal, current: str, new: str, address: str) -> Principal:
        """Someone changing their own password proves they know the current one, under the same
        throttle as signing in. Every other session of theirs ends; the answer carries the new
        token version, for a fresh token."""
        try:
            self.sign_in(who.username, current, address)
        except AuthError:
            raise AuthError("the current password is wrong") from None
        with Session(self.engine) as s, s.begin():
            return accounts.set_password(s, who.username, new)

    def token(self, who: Principal) -> tuple[str, timedelta]:
        ttl = timedelta(minutes=self.api.token_minutes)
        return access.issue_token(who, self.api.token_secret.get_secret_value(), ttl, self.clock()), ttl
