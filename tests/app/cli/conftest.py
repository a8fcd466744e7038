"""rxbench-admin runs in-process against the test database, with test configuration."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cli import main

CLI_WORKSTATION = "cli-test-workstation"


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


RunCli = Callable[..., CliRun]


@pytest.fixture
def cli_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Configuration through the environment, as a support person's script would set it."""
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("RXBENCH_PASSWORD_HASH_PROFILE", "fast-insecure-for-tests")
    monkeypatch.setenv("RXBENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RXBENCH_WORKSTATION", CLI_WORKSTATION)
    return data_dir


@pytest.fixture
def run_cli(
    cli_data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> RunCli:
    """Run `rxbench-admin ARGS…` in-process; `stdin` is what a pipe would feed it."""

    def run(*args: str, stdin: str = "") -> CliRun:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
