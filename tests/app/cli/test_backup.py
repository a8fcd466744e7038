"""`rxbench-admin backup` and `restore`: a round trip on the test backend."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app.bootstrap import Services
from app.cli.common import command_line_actor
from tests.app.cli.conftest import RunCli
from tests.conftest import BACKEND, TEST_PASSWORD

needs_pg_tools = pytest.mark.skipif(
    BACKEND == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")),
    reason="pg_dump/pg_restore are not installed",
)


def _add(run_cli: RunCli, url: str, username: str) -> None:
    result = run_cli(
        "--database",
        url,
        "user",
        "add",
        username,
        "--name",
        username.title(),
        "--role",
        "technician",
        "--password-stdin",
        stdin=f"{TEST_PASSWORD}\n",
    )
    assert result.code == 0, result.err


def _usernames(services: Services) -> set[str]:
    actor = command_line_actor(services.settings)
    return {user.username for user in services.users.list_users(actor)}


def _backup_path(out: str) -> Path:
    match = re.search(r"^Backed up .+ to (.+)$", out, re.MULTILINE)
    assert match, out
    return Path(match.group(1))


@needs_pg_tools
def test_backup_then_restore_round_trips(
    run_cli: RunCli, database_url: str, services: Services, cli_data_dir: Path
) -> None:
    _add(run_cli, database_url, "before")
    backed_up = run_cli("--database", database_url, "backup")
    _add(run_cli, database_url, "after")

    restored = run_cli(
        "--database", database_url, "restore", str(_backup_path(backed_up.out)), "--yes"
    )

    assert backed_up.code == 0, backed_up.err
    backup_file = _backup_path(backed_up.out)
    assert backup_file.parent == cli_data_dir / "backups"
    assert backup_file.is_file()
    assert restored.code == 0, restored.err
    assert f"from {backup_file}" in restored.out
    kept = re.search(r"^The database as it was before is kept in (.+)$", restored.out, re.M)
    assert kept and Path(kept.group(1)).is_file()
    services.database.engine.dispose()
    assert _usernames(services) == {"before"}
    assert services.auth.login("before", TEST_PASSWORD).username == "before"


@needs_pg_tools
def test_backup_to_a_chosen_folder(run_cli: RunCli, database_url: str, tmp_path: Path) -> None:
    result = run_cli("--database", database_url, "backup", "--to", str(tmp_path / "usb"))

    assert result.code == 0, result.err
    assert _backup_path(result.out).parent == tmp_path / "usb"


def test_restore_without_confirmation_changes_nothing(
    run_cli: RunCli, database_url: str, services: Services, tmp_path: Path
) -> None:
    _add(run_cli, database_url, "keep")
    some_file = tmp_path / "backup.sqlite3"
    some_file.write_bytes(b"not really")

    result = run_cli("--database", database_url, "restore", str(some_file), stdin="no\n")

    assert result.code == 1
    assert "Nothing was restored" in result.err
    assert _usernames(services) == {"keep"}


def test_restore_of_a_missing_file_is_refused(
    run_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    result = run_cli("--database", database_url, "restore", str(tmp_path / "nope"), "--yes")

    assert result.code == 1
    assert "There is no backup file" in result.err


@pytest.mark.skipif(BACKEND != "sqlite", reason="a SQLite file that is not there")
def test_backup_of_a_missing_sqlite_file_is_an_environment_fault(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("--database", f"sqlite:///{tmp_path / 'missing.sqlite3'}", "backup")

    assert result.code == 2
    assert "There is no database file" in result.err


@pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite backup check")
def test_restore_refuses_a_file_that_is_not_an_rxbench_backup(
    run_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    some_file = tmp_path / "backup.sqlite3"
    some_file.write_bytes(b"not really a database file")

    result = run_cli("--database", database_url, "restore", str(some_file), "--yes")

    assert result.code == 1
    assert "is not a SQLite backup" in result.err
