"""Signing in, locking and unlocking the workstation, pharmacist co-signature and witnesses.

Failed attempts count towards a lockout whichever door they come through (login, unlock PIN,
co-sign), and every attempt, good or bad, is an audit event committed on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.db.base import utc_now
from app.db.models import User
from app.domain.roles import Role
from app.errors import (
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    PermissionDenied,
    ValidationFailed,
)
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor, Database, UnitOfWork

PIN_PATTERN = re.compile(r"\d{4,8}")


@dataclass(frozen=True)
class LockoutPolicy:
    max_failed_attempts: int = 5
    lockout: timedelta = timedelta(minutes=15)


def actor_for(user: User, workstation: str) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=frozenset(Role(name) for name in user.role_names),
        workstation=workstation,
    )


class AuthService:
    def __init__(
        self, database: Database, hasher: SecretHasher, policy: LockoutPolicy, workstation: str
    ) -> None:
        self._db = database
        self._hasher = hasher
        self._policy = policy
        self._workstation = workstation

    def _anonymous(self, username: str) -> Actor:
        return Actor(None, username[:64] or "(blank)", "", frozenset(), self._workstation)

    def login(self, username: str, password: str) -> Actor:
        """Check a user's password; returns who they are, or raises with the reason."""
        return self._authenticate(username.strip(), password, door="login")

    def unlock(self, actor: Actor, secret: str) -> Actor:
        """Unlock a locked window for the same user, by password or by PIN."""
        return self._authenticate(actor.username, secret, door="unlock", allow_pin=True)

    def cosign(self, present: Actor, username: str, password: str, *, purpose: str) -> Actor:
        """A pharmacist approves one action at someone else's workstation session."""
        pharmacist = self._authenticate(username.strip(), password, door="cosign")
        with self._db.unit_of_work(pharmacist) as uow:
            if not pharmacist.has_any(Role.PHARMACIST):
                raise PermissionDenied(
                    f"Only a pharmacist may co-sign: {pharmacist.username} is not a pharmacist. "
                    "Ask the pharmacist on duty to enter their own user name and password.",
                    action="co-sign",
                    required=[Role.PHARMACIST.value],
                )
            uow.audit(
                "cosign",
                entity_type="user",
                entity_id=str(pharmacist.user_id),
                purpose=purpose,
                on_session_of=present.username,
            )
        return pharmacist

    def witness(self, present: Actor, username: str, password: str, *, purpose: str) -> Actor:
        """A second person (pharmacist or technician, not the one signed in) signs that they
        saw one action — a controlled-stock change or a count — at someone else's session."""
        signer = self._authenticate(username.strip(), password, door="witness")
        with self._db.unit_of_work(signer) as uow:
            if signer.user_id == present.user_id:
                raise PermissionDenied(
                    f"{signer.username} is the person signed in: a witness is someone else. Ask "
                    "a colleague to enter their own user name and password.",
                    action="witness",
                    required=[Role.PHARMACIST.value, Role.TECHNICIAN.value],
                )
            if not signer.has_any(Role.PHARMACIST, Role.TECHNICIAN):
                raise PermissionDenied(
                    f"Only a pharmacist or technician may witness: {signer.username} is neither.",
                    action="witness",
                    required=[Role.PHARMACIST.value, Role.TECHNICIAN.value],
                )
            uow.audit(
                "witness",
                entity_type="user",
                entity_id=str(signer.user_id),
                purpose=purpose,
                on_session_of=present.username,
            )
        return signer

    def logout(self, actor: Actor, *, reason: str = "sign-out") -> None:
        with self._db.unit_of_work(actor) as uow:
            uow.audit("logout", entity_type="user", entity_id=str(actor.user_id), reason=reason)

    def set_pin(self, actor: Actor, *, password: str, pin: str) -> None:
        """A user sets their own short unlock PIN (4 to 8 digits), proving it is them first.

        The password is asked so that someone at an unattended, unlocked workstation cannot
        plant a PIN and later unlock that user's locked session with it.
        """
        if not PIN_PATTERN.fullmatch(pin):
            raise ValidationFailed("A PIN is 4 to 8 digits.", field="pin")
        self._authenticate(actor.username, password, door="pin-change")
        with self._db.unit_of_work(actor) as uow:
            user = uow.session.get_one(User, actor.user_id)
            user.pin_hash = self._hasher.hash(pin)
            uow.audit("user.pin_set", user)

    def _authenticate(
        self, username: str, secret: str, *, door: str, allow_pin: bool = False
    ) -> Actor:
        outcome: Exception | None = None
        with self._db.unit_of_work(self._anonymous(username)) as uow:
            user = uow.session.scalars(
                select(User).where(func.lower(User.username) == username.lower()).with_for_update()
            ).one_or_none()
            if user is None:
                self._hasher.verify(None, secret)
                uow.audit(
                    f"{door}.failed", entity_type="user", entity_id=None, reason="unknown user"
                )
                outcome = AuthenticationFailed("Wrong user name or password.")
            else:
                uow.actor = actor_for(user, self._workstation)
                outcome = self._check_user(uow, user, secret, door=door, allow_pin=allow_pin)
        if outcome is not None:
            raise outcome
        assert user is not None
        return actor_for(user, self._workstation)

    def _check_user(
        self, uow: UnitOfWork, user: User, secret: str, *, door: str, allow_pin: bool
    ) -> Exception | None:
        now = utc_now()
        if not user.is_active:
            uow.audit(f"{door}.failed", user, reason="account disabled")
            return AccountDisabled(
                f"The account “{user.username}” is disabled. Ask an administrator."
            )
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            uow.audit(f"{door}.failed", user, reason="account locked")
            return AccountLocked(
                f"The account “{user.username}” is locked after too many wrong attempts. "
                f"Try again in {minutes} minutes, or ask an administrator to unlock it.",
                minutes=minutes,
            )
        good = self._hasher.verify(user.password_hash, secret) or (
            allow_pin and user.pin_hash is not None and self._hasher.verify(user.pin_hash, secret)
        )
        if not good:
            user.failed_logins += 1
            if user.failed_logins >= self._policy.max_failed_attempts:
                user.locked_until = now + self._policy.lockout
                user.failed_logins = 0
                uow.audit(
                    "account.locked",
                    user,
                    door=door,
                    minutes=int(self._policy.lockout.total_seconds() // 60),
                )
                return AccountLocked(
                    f"Too many wrong attempts: the account “{user.username}” is locked for "
                    f"{int(self._policy.lockout.total_seconds() // 60)} minutes.",
                )
            uow.audit(f"{door}.failed", user, reason="wrong secret", attempts=user.failed_logins)
            left = self._policy.max_failed_attempts - user.failed_logins
            return AuthenticationFailed(
                f"Wrong user name or password. {left} attempt{'s' if left != 1 else ''} left "
                "before the account locks."
            )
        if user.failed_logins or user.locked_until is not None:
            user.failed_logins = 0
            user.locked_until = None
        if self._hasher.needs_rehash(user.password_hash) and self._hasher.verify(
            user.password_hash, secret
        ):
            user.password_hash = self._hasher.hash(secret)
        uow.audit(f"{door}.succeeded", user)
        return None
