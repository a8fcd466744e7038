"""`rxbench-admin demo`: loads once, prints logins that work, refuses a database in use."""

from __future__ import annotations

import re

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.app.cli.conftest import RunCli

LOGIN_LINE = re.compile(r"^\s+(\S+)\s+password (\S+)\s+\((.+)\)$")


def _printed_logins(out: str) -> dict[str, str]:
    return {
        match.group(1): match.group(2)
        for line in out.splitlines()
        if (match := LOGIN_LINE.match(line))
    }


def test_demo_loads_and_prints_logins_that_work(
    run_cli: RunCli, database_url: str, services: Services
) -> None:
    result = run_cli("--database", database_url, "demo")

    assert result.code == 0, result.err
    assert result.out.startswith("Loaded the demo pharmacy into ")
    logins = _printed_logins(result.out)
    assert len(logins) >= 3
    roles = set()
    for username, password in logins.items():
        roles |= services.auth.login(username, password).roles
    assert {role.value for role in roles} == {"technician", "pharmacist", "administrator"}


def test_demo_again_prints_the_same_logins_and_loads_nothing(
    run_cli: RunCli, database_url: str
) -> None:
    first = run_cli("--database", database_url, "demo")
    second = run_cli("--database", database_url, "demo")

    assert (first.code, second.code) == (0, 0)
    assert second.out.startswith("The demo pharmacy is already loaded in ")
    assert _printed_logins(second.out) == _printed_logins(first.out)
    assert first.out.splitlines()[1] == second.out.splitlines()[1]  # the same record counts


def test_demo_refuses_a_database_that_holds_other_data(
    run_cli: RunCli, database_url: str, admin: Actor
) -> None:
    result = run_cli("--database", database_url, "demo")

    assert result.code == 1
    assert result.err.startswith("rxbench-admin: This database already holds data (users: 1")
    assert "only loaded into an empty database" in result.err


def test_demo_migrates_an_empty_database_first(run_cli: RunCli, empty_database_url: str) -> None:
    result = run_cli("--database", empty_database_url, "demo")

    assert result.code == 0, result.err
    assert "tech" in _printed_logins(result.out)
