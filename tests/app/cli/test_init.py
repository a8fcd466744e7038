"""rxbench-admin's entry point: exit codes and messages a support person understands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.app.cli.conftest import RunCli


def test_malformed_url_is_an_environment_fault_with_a_sentence(run_cli: RunCli) -> None:
    result = run_cli("--database", "nonsense://x", "db", "status")

    assert result.code == 2
    assert result.err.startswith("rxbench-admin: ")
    assert "SQLite or PostgreSQL" in result.err
    assert "Traceback" not in result.err


def test_unreachable_postgresql_is_an_environment_fault(run_cli: RunCli) -> None:
    result = run_cli("--database", "postgresql://postgres@127.0.0.1:1/x", "user", "list")

    assert result.code == 2
    assert "cannot reach the database" in result.err
    assert "127.0.0.1:1/x" in result.err


def test_unknown_command_is_refused_as_invalid_input(run_cli: RunCli) -> None:
    result = run_cli("frobnicate")

    assert result.code == 1
    assert "invalid choice" in result.err
    assert "usage: rxbench-admin" in result.err


def test_help_names_the_command_line_as_the_actor(run_cli: RunCli) -> None:
    result = run_cli("--help")

    assert result.code == 0
    assert "cli:<your login name>" in result.out
    assert "Exit codes" in result.out


def test_unexpected_error_is_one_line_pointing_at_the_log(
    run_cli: RunCli, database_url: str, tmp_path: Path, cli_data_dir: Path
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x", encoding="utf-8")

    result = run_cli("--database", database_url, "backup", "--to", str(not_a_folder))

    assert result.code == 3
    log_file = cli_data_dir / "logs" / "rxbench-admin.log"
    assert result.err.strip().splitlines() == [
        f"rxbench-admin: unexpected error (FileExistsError); details in the log: {log_file}"
    ]
    assert "Traceback" in log_file.read_text(encoding="utf-8")


def _run_module(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )


def test_console_entry_exit_codes(database_url: str, cli_data_dir: Path) -> None:
    bad_url = _run_module("--database", "nonsense://x", "db", "status")
    bad_role = _run_module(
        "--database", database_url, "user", "add", "zed", "--name", "Zed", "--role", "wizard"
    )
    added = _run_module(
        "--database",
        database_url,
        "user",
        "add",
        "zed",
        "--name",
        "Zed Zebrafield",
        "--role",
        "technician",
        "--password-stdin",
        stdin="zebra-stripes-1\n",
    )
    listed = _run_module("--database", database_url, "user", "list")

    assert (bad_url.returncode, bad_role.returncode, added.returncode) == (2, 1, 0)
    assert bad_url.stderr.startswith("rxbench-admin: ")
    assert "“wizard” is not a role" in bad_role.stderr
    assert "Traceback" not in bad_url.stderr + bad_role.stderr
    assert listed.returncode == 0
    assert "zed" in listed.stdout and "technician" in listed.stdout
