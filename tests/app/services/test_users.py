"""Account management: only administrators, every change audited with before/after."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.domain.roles import Role
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.unit_of_work import Actor
from app.services.users import parse_roles
from tests.conftest import TEST_PASSWORD


def _last_event(services: Services) -> AuditEvent:
    with services.database.reading() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    return event


def test_administrator_adds_a_user_with_several_roles(services: Services, admin: Actor) -> None:
    created = services.users.add_user(
        admin,
        username="Pat.Smith",
        full_name=" Pat Smith ",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN, Role.PHARMACIST}),
    )
    assert (created.username, created.full_name) == ("pat.smith", "Pat Smith")
    assert created.roles == {Role.TECHNICIAN, Role.PHARMACIST}
    event = _last_event(services)
    assert event.action == "user.created"
    assert event.summary["after"]["roles"] == ["pharmacist", "technician"]
    assert "password" not in str(event.summary)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("x", TEST_PASSWORD, "user name"),
        ("9lives", TEST_PASSWORD, "user name"),
        ("valid", "short", "at least 8"),
        ("valid", " padded password ", "space"),
        ("admin", TEST_PASSWORD, "already a user"),
    ],
)
def test_bad_new_accounts_are_refused(
    services: Services, admin: Actor, username: str, password: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        services.users.add_user(
            admin,
            username=username,
            full_name="Someone",
            password=password,
            roles=frozenset({Role.TECHNICIAN}),
        )


def test_roles_parse_with_a_clear_message() -> None:
    assert parse_roles(["Technician", " pharmacist"]) == {Role.TECHNICIAN, Role.PHARMACIST}
    with pytest.raises(ValidationFailed, match="“cashier” is not a role"):
        parse_roles(["cashier"])
    with pytest.raises(ValidationFailed, match="at least one role"):
        parse_roles([])


def test_technician_changes_own_password_but_not_others(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    services.users.set_password(technician, username="tess", password="a new password")
    assert services.auth.login("tess", "a new password").username == "tess"
    with pytest.raises(PermissionDenied):
        services.users.set_password(technician, username="phil", password="a new password")


def test_roles_change_records_before_and_after(
    services: Services, admin: Actor, technician: Actor
) -> None:
    services.users.set_roles(
        admin, username="tess", roles=frozenset({Role.TECHNICIAN, Role.PHARMACIST})
    )
    event = _last_event(services)
    assert event.action == "user.roles_changed"
    assert event.summary["before"]["roles"] == ["technician"]
    assert event.summary["after"]["roles"] == ["pharmacist", "technician"]
    assert services.auth.login("tess", TEST_PASSWORD).roles == {Role.TECHNICIAN, Role.PHARMACIST}


def test_administrator_cannot_disable_themself(services: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed, match="your own account"):
        services.users.set_active(admin, username="admin", active=False)


def test_pharmacist_clears_a_lockout_technician_cannot(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        services.users.clear_lockout(technician, username="tess")
    services.users.clear_lockout(pharmacist, username="tess")
    assert _last_event(services).action == "user.lockout_cleared"


def test_unknown_user(services: Services, admin: Actor) -> None:
    with pytest.raises(NotFound, match="no user named “ghost”"):
        services.users.set_active(admin, username="ghost", active=False)


def test_list_users_is_for_administrators_and_pharmacists(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    assert [u.username for u in services.users.list_users(pharmacist)] == ["admin", "phil", "tess"]
    with pytest.raises(PermissionDenied):
        services.users.list_users(technician)
