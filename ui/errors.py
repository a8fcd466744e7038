"""Turning exceptions into sentences a technician can act on, and the last-resort hook."""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.errors import (
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    DatabaseReadOnly,
    DatabaseUnavailable,
    DiskFull,
    EnvironmentFault,
    InvalidDatabaseUrl,
    NotFound,
    PermissionDenied,
    PrinterNotFound,
    PrinterOffline,
    PrintJobFailed,
    RxBenchError,
    SchemaOutOfDate,
    SchemaTooNew,
    StaleRecord,
    ValidationFailed,
)

log = logging.getLogger(__name__)

UNEXPECTED_TITLE = "Something went wrong"
UNEXPECTED_SENTENCE = (
    "Something went wrong in RxBench that it did not expect. The details were written to the "
    "log file; tell your administrator what you were doing when it happened."
)
ENVIRONMENT_HINT = (
    "This is a problem with the computer, network or server, not with your work. "
    "When it is fixed, choose Retry."
)

PRINTER_HINT = (
    "Nothing was printed and nothing was recorded. Check the printer (power, paper, labels, "
    "cable), then choose Retry, or choose another printer."
)
_PRINTER_FAULTS = (PrinterNotFound, PrinterOffline, PrintJobFailed)

# Most specific first: the first matching class names the title.
_TITLES: tuple[tuple[type[RxBenchError], str], ...] = (
    (DatabaseUnavailable, "Database unreachable"),
    (DatabaseReadOnly, "Database is read-only"),
    (DiskFull, "Disk full"),
    (InvalidDatabaseUrl, "Database setting is wrong"),
    (SchemaTooNew, "RxBench needs an update"),
    (SchemaOutOfDate, "Database needs an upgrade"),
    (PrinterNotFound, "Printer not found"),
    (PrinterOffline, "Printer offline"),
    (PrintJobFailed, "Printing failed"),
    (EnvironmentFault, "Problem outside RxBench"),
    (AccountLocked, "Account locked"),
    (AccountDisabled, "Account disabled"),
    (AuthenticationFailed, "Sign-in failed"),
    (PermissionDenied, "Not allowed"),
    (StaleRecord, "Changed by someone else"),
    (ValidationFailed, "Please check"),
    (NotFound, "Not found"),
    (RxBenchError, "RxBench"),
)


def is_environment_fault(exc: BaseException) -> bool:
    """Environment faults may succeed when retried; everything else will not."""
    return isinstance(exc, EnvironmentFault)


def explain(exc: BaseException) -> tuple[str, str]:
    """Return (title, sentence) for a person; an unexpected exception is logged here."""
    if isinstance(exc, RxBenchError):
        title = next(title for family, title in _TITLES if isinstance(exc, family))
        if isinstance(exc, _PRINTER_FAULTS):
            return title, f"{exc.message}\n\n{PRINTER_HINT}"
        if isinstance(exc, EnvironmentFault):
            return title, f"{exc.message}\n\n{ENVIRONMENT_HINT}"
        return title, exc.message
    log.error("unexpected %s", type(exc).__name__, exc_info=exc)
    return UNEXPECTED_TITLE, UNEXPECTED_SENTENCE


def show_error(parent: QWidget | None, exc: BaseException) -> bool:
    """Show the explained error in a modal box; True when the person chose Retry.

    Retry is offered only for environment faults, the only errors a retry can cure.
    """
    title, sentence = explain(exc)
    box = QMessageBox(parent)
    box.setWindowTitle(f"RxBench — {title}")
    box.setText(sentence)
    box.setAccessibleName(title)
    if is_environment_fault(exc):
        box.setIcon(QMessageBox.Icon.Warning)
        box.setStandardButtons(QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Close)
        box.setDefaultButton(QMessageBox.StandardButton.Retry)
    else:
        box.setIcon(
            QMessageBox.Icon.Information
            if isinstance(exc, RxBenchError)
            else QMessageBox.Icon.Critical
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box.exec() == QMessageBox.StandardButton.Retry


def install_excepthook() -> None:
    """Route uncaught exceptions (including those raised in Qt slots) to the log and a dialog."""
    showing = False

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        nonlocal showing
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        if showing or QApplication.instance() is None:
            # A second failure while the first is on screen, or no window to show it in.
            title, sentence = explain(exc)
            print(f"RxBench: {title}: {sentence}", file=sys.stderr)
            return
        showing = True
        try:
            show_error(QApplication.activeWindow(), exc)
        finally:
            showing = False

    sys.excepthook = hook
