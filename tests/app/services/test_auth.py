"""Sign-in, lockout, unlock by PIN, co-signature, witness: every attempt audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.bootstrap import Services
from app.db.base import utc_now
from app.db.models import AuditEvent, User
from app.domain.roles import Role
from app.errors import (
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    PermissionDenied,
    ValidationFailed,
)
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD


def _actions(services: Services, username: str | None = None) -> list[str]:
    with services.database.reading() as session:
        query = select(AuditEvent.action).order_by(AuditEvent.id)
        if username:
            query = query.where(AuditEvent.username == username)
        return list(session.scalars(query))


def test_login_returns_the_user_with_roles_and_audits_it(services: Services, admin: Actor) -> None:
    actor = services.auth.login("ADMIN ", TEST_PASSWORD)
    assert actor.user_id == admin.user_id
    assert actor.roles == {Role.ADMINISTRATOR, Role.PHARMACIST}
    assert actor.workstation == "test-workstation"
    assert _actions(services, "admin")[-1] == "login.succeeded"


def test_unknown_user_gets_the_same_message_as_a_wrong_password(
    services: Services, admin: Actor
) -> None:
    with pytest.raises(AuthenticationFailed, match="Wrong user name or password") as unknown:
        services.auth.login("nobody", TEST_PASSWORD)
    with pytest.raises(AuthenticationFailed, match="Wrong user name or password") as wrong:
        services.auth.login("admin", "not the password")
    assert type(unknown.value) is type(wrong.value) is AuthenticationFailed
    assert _actions(services)[-2:] == ["login.failed", "login.failed"]


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    services: Services, technician: Actor
) -> None:
    with pytest.raises(AuthenticationFailed, match="2 attempts left"):
        services.auth.login("tess", "wrong-1")
    with pytest.raises(AuthenticationFailed, match="1 attempt left"):
        services.auth.login("tess", "wrong-2")
    with pytest.raises(AccountLocked, match="locked for 15 minutes"):
        services.auth.login("tess", "wrong-3")
    with pytest.raises(AccountLocked, match="Try again in"):
        services.auth.login("tess", TEST_PASSWORD)
    assert "account.locked" in _actions(services, "tess")


def test_lockout_expires(services: Services, technician: Actor) -> None:
    for attempt in range(3):
        with pytest.raises(AuthenticationFailed):
            services.auth.login("tess", f"wrong-{attempt}")
    with services.database.engine.begin() as connection:
        connection.execute(
            update(User)
            .where(User.username == "tess")
            .values(locked_until=utc_now() - timedelta(seconds=1))
        )
    assert services.auth.login("tess", TEST_PASSWORD).username == "tess"


def test_a_success_resets_the_failure_count(services: Services, technician: Actor) -> None:
    for attempt in range(2):
        with pytest.raises(AuthenticationFailed):
            services.auth.login("tess", f"wrong-{attempt}")
    services.auth.login("tess", TEST_PASSWORD)
    with pytest.raises(AuthenticationFailed, match="2 attempts left"):
        services.auth.login("tess", "wrong-again")


def test_disabled_user_cannot_sign_in(services: Services, admin: Actor, technician: Actor) -> None:
    services.users.set_active(admin, username="tess", active=False)
    with pytest.raises(AccountDisabled, match="disabled"):
        services.auth.login("tess", TEST_PASSWORD)


def test_unlock_accepts_password_or_pin_of_the_same_user(
    services: Services, technician: Actor
) -> None:
    services.auth.set_pin(technician, password=TEST_PASSWORD, pin="4821")
    assert services.auth.unlock(technician, "4821").username == "tess"
    assert services.auth.unlock(technician, TEST_PASSWORD).username == "tess"
    with pytest.raises(AuthenticationFailed):
        services.auth.unlock(technician, "0000")
    assert _actions(services, "tess")[-3:] == [
        "unlock.succeeded",
        "unlock.succeeded",
        "unlock.failed",
    ]


def test_pin_does_not_open_the_login_door(services: Services, technician: Actor) -> None:
    services.auth.set_pin(technician, password=TEST_PASSWORD, pin="4821")
    with pytest.raises(AuthenticationFailed):
        services.auth.login("tess", "4821")


@pytest.mark.parametrize("pin", ["12", "abcd", "123456789", ""])
def test_pin_must_be_four_to_eight_digits(services: Services, technician: Actor, pin: str) -> None:
    with pytest.raises(ValidationFailed, match="4 to 8 digits"):
        services.auth.set_pin(technician, password=TEST_PASSWORD, pin=pin)


def test_pharmacist_cosigns_without_signing_the_technician_out(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    signer = services.auth.cosign(technician, "phil", TEST_PASSWORD, purpose="clear lockout")
    assert signer.username == "phil" and Role.PHARMACIST in signer.roles
    with services.database.reading() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "cosign")).one()
    assert event.summary == {"purpose": "clear lockout", "on_session_of": "tess"}
    assert event.workstation == "test-workstation"


def test_a_technician_cannot_cosign(services: Services, technician: Actor, admin: Actor) -> None:
    services.users.add_user(
        admin,
        username="tom",
        full_name="Tom",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN}),
    )
    with pytest.raises(PermissionDenied, match="Only a pharmacist may co-sign"):
        services.auth.cosign(technician, "tom", TEST_PASSWORD, purpose="override")
    assert _actions(services, "tom")[-1] == "access.denied"


def test_a_second_technician_witnesses_without_signing_the_first_out(
    services: Services, technician: Actor, admin: Actor
) -> None:
    services.users.add_user(
        admin,
        username="tom",
        full_name="Tom",
        password=TEST_PASSWORD,
        roles=frozenset({Role.TECHNICIAN}),
    )
    signer = services.auth.witness(technician, "tom", TEST_PASSWORD, purpose="count 3")
    assert signer.username == "tom" and Role.TECHNICIAN in signer.roles
    with services.database.reading() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "witness")).one()
    assert event.username == "tom"
    assert event.summary == {"purpose": "count 3", "on_session_of": "tess"}


def test_a_pharmacist_may_witness_too(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    assert services.auth.witness(technician, "phil", TEST_PASSWORD, purpose="x").username == "phil"


def test_nobody_witnesses_their_own_action(services: Services, technician: Actor) -> None:
    with pytest.raises(PermissionDenied, match="a witness is someone else"):
        services.auth.witness(technician, "tess", TEST_PASSWORD, purpose="count 3")
    assert _actions(services, "tess")[-2:] == ["witness.succeeded", "access.denied"]
    assert "witness" not in _actions(services)


def test_an_administrator_alone_cannot_witness(
    services: Services, technician: Actor, admin: Actor
) -> None:
    services.users.add_user(
        admin,
        username="otto",
        full_name="Otto",
        password=TEST_PASSWORD,
        roles=frozenset({Role.ADMINISTRATOR}),
    )
    with pytest.raises(PermissionDenied, match="Only a pharmacist or technician may witness"):
        services.auth.witness(technician, "otto", TEST_PASSWORD, purpose="count 3")
    assert _actions(services, "otto")[-1] == "access.denied"


def test_a_wrong_witness_password_counts_towards_the_lockout(
    services: Services, technician: Actor, pharmacist: Actor
) -> None:
    with pytest.raises(AuthenticationFailed):
        services.auth.witness(technician, "phil", "wrong", purpose="count 3")
    assert _actions(services, "phil")[-1] == "witness.failed"


def test_logout_is_audited(services: Services, technician: Actor) -> None:
    services.auth.logout(technician, reason="switch user")
    assert _actions(services, "tess")[-1] == "logout"


def test_test_profile_hash_is_upgraded_at_login_under_the_production_profile(
    services: Services, technician: Actor
) -> None:
    from app.services.auth import AuthService
    from app.services.passwords import SecretHasher

    production = AuthService(
        services.database,
        SecretHasher("production"),
        services.auth._policy,
        "test-workstation",
    )
    production.login("tess", TEST_PASSWORD)
    with services.database.reading() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "tess")).one()
    assert "m=65536" in stored


def test_setting_a_pin_needs_the_users_password(services: Services, technician: Actor) -> None:
    with pytest.raises(AuthenticationFailed):
        services.auth.set_pin(technician, password="someone else guessing", pin="1111")
    with pytest.raises(AuthenticationFailed):
        services.auth.unlock(technician, "1111")
    assert "pin-change.failed" in _actions(services, "tess")
