"""`rxbench-admin user …`: every change audited as made by the command line."""

from __future__ import annotations

import getpass

import pytest
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.domain.roles import Role
from app.errors import AccountDisabled, AccountLocked, AuthenticationFailed
from tests.app.cli.conftest import CLI_WORKSTATION, CliRun, RunCli
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "a-brand-new-one"


def _events(services: Services, action: str) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _add(run_cli: RunCli, url: str, username: str, *roles: str) -> CliRun:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return run_cli(
        "--database",
        url,
        "user",
        "add",
        username,
        "--name",
        f"{username.title()} Example",
        *role_args,
        "--password-stdin",
        stdin=f"{TEST_PASSWORD}\n",
    )


def test_add_creates_the_account_and_audits_it_as_the_command_line(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    result = _add(run_cli, database_url, "rita", "technician", "pharmacist")

    assert result.code == 0, result.err
    assert "Created user rita (Rita Example): pharmacist, technician." in result.out
    actor = services.auth.login("rita", TEST_PASSWORD)
    assert actor.roles == frozenset({Role.TECHNICIAN, Role.PHARMACIST})
    [created] = _events(services, "user.created")
    assert created.username == f"cli:{getpass.getuser()}"
    assert created.user_id is None
    assert created.workstation == CLI_WORKSTATION
    assert created.entity_id == str(actor.user_id)


def test_add_works_on_a_brand_new_empty_installation(
    run_cli: RunCli, empty_database_url: str
) -> None:
    added = _add(run_cli, empty_database_url, "first", "administrator")
    listed = run_cli("--database", empty_database_url, "user", "list")

    assert added.code == 0, added.err
    assert "first" in listed.out and "administrator" in listed.out


def test_bad_role_is_refused_with_the_known_roles(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    result = _add(run_cli, database_url, "rita", "wizard")

    assert result.code == 1
    assert result.err == (
        "rxbench-admin: “wizard” is not a role. Roles are: technician, pharmacist, administrator.\n"
    )
    assert _events(services, "user.created") == []


def test_duplicate_user_and_short_password_are_refused(run_cli: RunCli, database_url: str) -> None:
    assert _add(run_cli, database_url, "rita", "technician").code == 0
    duplicate = _add(run_cli, database_url, "rita", "technician")
    short = run_cli(
        "--database",
        database_url,
        "user",
        "add",
        "sam",
        "--name",
        "Sam",
        "--role",
        "technician",
        "--password-stdin",
        stdin="short\n",
    )

    assert duplicate.code == 1
    assert "already a user named “rita”" in duplicate.err
    assert short.code == 1
    assert "at least 8 characters" in short.err


def test_passwd_sets_a_new_password(run_cli: RunCli, database_url: str, services: Services) -> None:
    _add(run_cli, database_url, "rita", "technician")

    result = run_cli(
        "--database",
        database_url,
        "user",
        "passwd",
        "rita",
        "--password-stdin",
        stdin=f"{NEW_PASSWORD}\n",
    )

    assert result.code == 0, result.err
    with pytest.raises(AuthenticationFailed):
        services.auth.login("rita", TEST_PASSWORD)
    assert services.auth.login("rita", NEW_PASSWORD).username == "rita"
    [changed] = _events(services, "user.password_changed")
    assert changed.username == f"cli:{getpass.getuser()}"


def test_passwd_for_an_unknown_user_is_refused(run_cli: RunCli, database_url: str) -> None:
    result = run_cli(
        "--database",
        database_url,
        "user",
        "passwd",
        "nobody",
        "--password-stdin",
        stdin=f"{NEW_PASSWORD}\n",
    )

    assert result.code == 1
    assert result.err == "rxbench-admin: There is no user named “nobody”.\n"


def test_disable_then_enable(run_cli: RunCli, database_url: str, services: Services) -> None:
    _add(run_cli, database_url, "rita", "technician")

    disabled = run_cli("--database", database_url, "user", "disable", "rita")
    listed = run_cli("--database", database_url, "user", "list")
    with pytest.raises(AccountDisabled):
        services.auth.login("rita", TEST_PASSWORD)
    enabled = run_cli("--database", database_url, "user", "enable", "rita")

    assert (disabled.code, enabled.code) == (0, 0)
    assert "disabled" in listed.out.splitlines()[1]
    assert services.auth.login("rita", TEST_PASSWORD).username == "rita"
    assert [
        event.summary["after"]["is_active"] for event in _events(services, "user.disabled")
    ] == [False]
    assert len(_events(services, "user.enabled")) == 1


def test_unlock_clears_a_lockout(run_cli: RunCli, database_url: str, services: Services) -> None:
    _add(run_cli, database_url, "rita", "technician")
    for _ in range(services.settings.max_failed_logins):
        with pytest.raises(AuthenticationFailed):
            services.auth.login("rita", "wrong password")
    with pytest.raises(AccountLocked):
        services.auth.login("rita", TEST_PASSWORD)
    locked_listing = run_cli("--database", database_url, "user", "list")

    result = run_cli("--database", database_url, "user", "unlock", "rita")

    assert "locked until" in locked_listing.out
    assert result.code == 0, result.err
    assert services.auth.login("rita", TEST_PASSWORD).username == "rita"
    [cleared] = _events(services, "user.lockout_cleared")
    assert cleared.username == f"cli:{getpass.getuser()}"


def test_list_shows_accounts_roles_and_status(run_cli: RunCli, database_url: str) -> None:
    empty = run_cli("--database", database_url, "user", "list")
    _add(run_cli, database_url, "rita", "technician")
    _add(run_cli, database_url, "paul", "pharmacist", "administrator")

    result = run_cli("--database", database_url, "user", "list")

    assert "no user accounts yet" in empty.out
    lines = result.out.splitlines()
    assert lines[0].split() == ["USER", "NAME", "ROLES", "STATUS"]
    assert lines[1].split() == ["paul", "Paul", "Example", "administrator,", "pharmacist", "active"]
    assert lines[2].split() == ["rita", "Rita", "Example", "technician", "active"]
