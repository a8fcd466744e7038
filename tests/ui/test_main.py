"""The `rxbench` entry point: --smoke in a real process, start-up faults, logging."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.bootstrap import Services
from app.config import Settings
from app.errors import DatabaseUnavailable
from ui.main import (
    LOG_FILE_NAME,
    configure_logging,
    open_services_until_cancelled,
    parse_arguments,
)

SMOKE_TIMEOUT_S = 120


def run_smoke(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        RXBENCH_CONFIG_DIR=str(tmp_path / "config"),
        RXBENCH_DATA_DIR=str(tmp_path / "data"),
    )
    return subprocess.run(
        [sys.executable, "-m", "ui.main", "--smoke", "--database", database_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )


def test_smoke_opens_the_window_and_reports_ready(database_url: str, tmp_path: Path):
    result = run_smoke(database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ready in ")
    assert result.stdout.strip().endswith(" ms")
    assert (tmp_path / "data" / "logs" / LOG_FILE_NAME).exists()


def test_smoke_migrates_an_empty_database(empty_database_url: str, tmp_path: Path):
    result = run_smoke(empty_database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ready in" in result.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/x", "cannot reach the database"),
        ("mysql://someone@server/rx", "SQLite or PostgreSQL"),
    ],
)
def test_smoke_explains_an_environment_fault_in_one_line(url, expected, tmp_path: Path):
    result = run_smoke(url, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_arguments():
    arguments = parse_arguments(["--database", "sqlite:///x.sqlite3", "--smoke"])
    assert arguments.database == "sqlite:///x.sqlite3"
    assert arguments.smoke
    assert not parse_arguments([]).smoke


def test_logging_goes_to_a_rotating_file_in_the_data_dir(settings: Settings):
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging(settings)
        logging.getLogger("ui.test").warning("dock reload failed (DatabaseUnavailable)")
        for handler in root.handlers:
            handler.flush()
        text = (settings.data_dir / "logs" / LOG_FILE_NAME).read_text(encoding="utf-8")
        assert "WARNING ui.test: dock reload failed (DatabaseUnavailable)" in text
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


def _answer_message_box(button_text: str, seen: list[str]) -> None:
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, answer)
            return
        seen.append(box.text())
        next(b for b in box.buttons() if b.text().replace("&", "") == button_text).click()

    QTimer.singleShot(0, answer)


def _unreachable() -> Services:
    raise DatabaseUnavailable("RxBench cannot reach the database (PostgreSQL db:5432/rx).")


def test_start_up_fault_offers_retry_which_rebuilds(qtbot, settings: Settings):
    seen: list[str] = []
    _answer_message_box("Retry", seen)
    services = open_services_until_cancelled(settings, _unreachable)
    try:
        assert services is not None
        assert services.pharmacy.needs_first_run()
        assert "cannot reach the database" in seen[0]
    finally:
        if services is not None:
            services.close()


def test_start_up_fault_quit_gives_up(qtbot, settings: Settings):
    seen: list[str] = []
    _answer_message_box("Quit", seen)
    assert open_services_until_cancelled(settings, _unreachable) is None
    assert len(seen) == 1
