"""Every error family becomes a sentence; only environment faults offer Retry."""

from __future__ import annotations

import logging
import sys

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.errors import (
    AccountLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
    DiskFull,
    InvalidDatabaseUrl,
    PermissionDenied,
    PrinterNotFound,
    PrinterOffline,
    PrintJobFailed,
    SchemaTooNew,
    StaleRecord,
    ValidationFailed,
)
from ui.errors import (
    ENVIRONMENT_HINT,
    PRINTER_HINT,
    UNEXPECTED_SENTENCE,
    explain,
    install_excepthook,
    show_error,
)


@pytest.mark.parametrize(
    ("exc", "title"),
    [
        (DatabaseUnavailable("RxBench cannot reach the database."), "Database unreachable"),
        (DatabaseReadOnly("The database can only be read."), "Database is read-only"),
        (DiskFull("The disk is full."), "Disk full"),
        (InvalidDatabaseUrl("“x” is not a database URL."), "Database setting is wrong"),
        (SchemaTooNew("The database is newer than RxBench."), "RxBench needs an update"),
    ],
)
def test_environment_faults_are_explained_as_such_with_retry(exc, title):
    got_title, sentence = explain(exc)
    assert got_title == title
    assert sentence.startswith(exc.message)
    assert ENVIRONMENT_HINT in sentence
    assert "Retry" in sentence


@pytest.mark.parametrize(
    ("exc", "title"),
    [
        (PrinterNotFound("No printer “Zebra-1” on this computer."), "Printer not found"),
        (PrinterOffline("The printer “Zebra-1” is stopped."), "Printer offline"),
        (PrintJobFailed("The print job could not start."), "Printing failed"),
    ],
)
def test_printer_faults_say_nothing_was_printed_and_offer_retry(exc, title):
    got_title, sentence = explain(exc)
    assert got_title == title
    assert sentence == f"{exc.message}\n\n{PRINTER_HINT}"
    assert "Nothing was printed" in sentence and "Retry" in sentence


@pytest.mark.parametrize(
    ("exc", "title"),
    [
        (ValidationFailed("Enter the city."), "Please check"),
        (PermissionDenied("Only a pharmacist may do that."), "Not allowed"),
        (AccountLocked("The account is locked for 15 minutes."), "Account locked"),
        (StaleRecord("Someone else changed this fill."), "Changed by someone else"),
    ],
)
def test_refusals_are_their_own_message(exc, title):
    assert explain(exc) == (title, exc.message)


def test_unexpected_exception_is_logged_and_not_shown_raw(caplog):
    with caplog.at_level(logging.ERROR, logger="ui.errors"):
        title, sentence = explain(ZeroDivisionError("division by zero"))
    assert title == "Something went wrong"
    assert sentence == UNEXPECTED_SENTENCE
    assert "division by zero" not in sentence
    assert any(record.exc_info for record in caplog.records)


def _press_on_message_box(button: QMessageBox.StandardButton, seen: list[str]) -> None:
    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, press)
            return
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, press)


def test_show_error_offers_retry_for_environment_faults(qtbot):
    seen: list[str] = []
    _press_on_message_box(QMessageBox.StandardButton.Retry, seen)
    assert show_error(None, DatabaseUnavailable("RxBench cannot reach the database.")) is True
    assert seen and "cannot reach" in seen[0]


def test_show_error_for_a_refusal_has_only_ok(qtbot):
    seen: list[str] = []
    _press_on_message_box(QMessageBox.StandardButton.Ok, seen)
    assert show_error(None, ValidationFailed("Enter the city.")) is False
    assert seen == ["Enter the city."]


def test_excepthook_logs_and_shows_a_dialog(qtbot, monkeypatch, caplog):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook()
    seen: list[str] = []
    _press_on_message_box(QMessageBox.StandardButton.Ok, seen)
    try:
        raise KeyError("fill 7")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="ui.errors"):
            sys.excepthook(type(exc), exc, exc.__traceback__)
    assert seen == [UNEXPECTED_SENTENCE]
    assert any(record.exc_info for record in caplog.records)
