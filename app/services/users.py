"""Managing RxBench accounts: create, change password, roles, disable, clear a lockout."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.db.models import User, UserRole
from app.domain.roles import Role
from app.errors import NotFound, ValidationFailed
from app.services.passwords import SecretHasher
from app.services.unit_of_work import Actor, Database, UnitOfWork, require_role

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class UserSummary:
    id: int
    username: str
    full_name: str
    roles: frozenset[Role]
    is_active: bool
    locked_until: datetime | None


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip() != password:
        raise ValidationFailed("A password cannot start or end with a space.")


def parse_roles(names: list[str] | tuple[str, ...]) -> frozenset[Role]:
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            known = ", ".join(role.value for role in Role)
            raise ValidationFailed(f"“{name}” is not a role. Roles are: {known}.") from None
    if not roles:
        raise ValidationFailed("A user needs at least one role.")
    return frozenset(roles)


def _summary(user: User) -> UserSummary:
    return UserSummary(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=frozenset(Role(name) for name in user.role_names),
        is_active=user.is_active,
        locked_until=user.locked_until,
    )


def _snapshot(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "roles": sorted(user.role_names),
        "is_active": user.is_active,
    }


class UserService:
    def __init__(self, database: Database, hasher: SecretHasher) -> None:
        self._db = database
        self._hasher = hasher

    def list_users(self, actor: Actor) -> list[UserSummary]:
        require_role(actor, Role.ADMINISTRATOR, Role.PHARMACIST, action="list user accounts")
        with self._db.reading() as session:
            users = session.scalars(select(User).order_by(User.username)).all()
            return [_summary(user) for user in users]

    def add_user(
        self, actor: Actor, *, username: str, full_name: str, password: str, roles: frozenset[Role]
    ) -> UserSummary:
        require_role(actor, Role.ADMINISTRATOR, action="create user accounts")
        username = username.strip().lower()
        if not USERNAME_PATTERN.fullmatch(username):
            raise ValidationFailed(
                "A user name is 2 to 64 lower-case letters, digits, dots, dashes or underscores, "
                "starting with a letter."
            )
        if not full_name.strip():
            raise ValidationFailed("Enter the person's full name.")
        if not roles:
            raise ValidationFailed("A user needs at least one role.")
        check_password_strength(password)
        with self._db.unit_of_work(actor) as uow:
            exists = uow.session.scalar(
                select(func.count()).select_from(User).where(func.lower(User.username) == username)
            )
            if exists:
                raise ValidationFailed(f"There is already a user named “{username}”.")
            user = User(
                username=username,
                full_name=full_name.strip(),
                password_hash=self._hasher.hash(password),
                roles=[UserRole(role=role.value) for role in sorted(roles)],
            )
            uow.session.add(user)
            uow.audit("user.created", user, after=_snapshot(user))
            return _summary(user)

    def set_password(self, actor: Actor, *, username: str, password: str) -> None:
        """An administrator resets anyone's password; everyone may change their own."""
        check_password_strength(password)
        if username.strip().lower() != actor.username:
            require_role(actor, Role.ADMINISTRATOR, action="reset another user's password")
        with self._db.unit_of_work(actor) as uow:
            user = self._get(uow, username)
            user.password_hash = self._hasher.hash(password)
            user.failed_logins = 0
            user.locked_until = None
            uow.audit("user.password_changed", user)

    def set_roles(self, actor: Actor, *, username: str, roles: frozenset[Role]) -> None:
        require_role(actor, Role.ADMINISTRATOR, action="change user roles")
        if not roles:
            raise ValidationFailed("A user needs at least one role.")
        with self._db.unit_of_work(actor) as uow:
            user = self._get(uow, username)
            before = _snapshot(user)
            user.roles = [UserRole(role=role.value) for role in sorted(roles)]
            uow.session.flush()
            uow.audit("user.roles_changed", user, before=before, after=_snapshot(user))

    def set_active(self, actor: Actor, *, username: str, active: bool) -> None:
        require_role(actor, Role.ADMINISTRATOR, action="disable or enable user accounts")
        with self._db.unit_of_work(actor) as uow:
            user = self._get(uow, username)
            if user.id == actor.user_id and not active:
                raise ValidationFailed("You cannot disable your own account.")
            before = _snapshot(user)
            user.is_active = active
            uow.audit(
                "user.enabled" if active else "user.disabled",
                user,
                before=before,
                after=_snapshot(user),
            )

    def clear_lockout(self, actor: Actor, *, username: str) -> None:
        require_role(actor, Role.ADMINISTRATOR, Role.PHARMACIST, action="unlock a locked account")
        with self._db.unit_of_work(actor) as uow:
            user = self._get(uow, username)
            user.failed_logins = 0
            user.locked_until = None
            uow.audit("user.lockout_cleared", user)

    def _get(self, uow: UnitOfWork, username: str) -> User:
        user = uow.session.scalars(
            select(User).where(func.lower(User.username) == username.strip().lower())
        ).one_or_none()
        if user is None:
            raise NotFound(f"There is no user named “{username.strip()}”.")
        return user
