"""The `rxbench` entry point: the workstation window, or a start-up check with --smoke."""

from __future__ import annotations

import time

# --smoke reports time since this line: the first statement of RxBench's own code. The
# interpreter's start-up before it is not included.
STARTED = time.perf_counter()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from logging.handlers import RotatingFileHandler  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from app.bootstrap import Services
    from app.config import Settings

log = logging.getLogger("ui.main")

LOG_FILE_NAME = "rxbench.log"
LOG_FILE_BYTES = 2_000_000
LOG_FILE_COUNT = 5
SMOKE_TIMEOUT_MS = 60_000
EXIT_ENVIRONMENT_FAULT = 2
EXIT_LOAD_FAILED = 3
EXIT_UNEXPECTED = 1


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rxbench", description="RxBench pharmacy workstation")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (sqlite:///path or postgresql://user@host/db); overrides settings",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="open the main window without signing in, load every dock, print the time, exit",
    )
    return parser.parse_args(argv)


def configure_logging(settings: Settings) -> None:
    """Named loggers into a rotating file in the data directory; stderr if it cannot be made."""
    handler: logging.Handler
    try:
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            log_dir / LOG_FILE_NAME,
            maxBytes=LOG_FILE_BYTES,
            backupCount=LOG_FILE_COUNT,
            encoding="utf-8",
        )
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Alembic announces each of its plugins at INFO on every start; keep its migration lines.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def route_qt_messages() -> None:
    """Qt's own warnings go to the log file with ours instead of to a console nobody reads."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def build_services_in_background(settings: Settings) -> Callable[[], Services]:
    """Start opening the database (imports, migration, hasher set-up) while Qt starts.

    Returns a function that waits for the services and raises what building them raised.
    Much of the work (SQLite I/O, Argon2) releases the GIL, so the two overlap for real.
    """
    outcome: list[Services | BaseException] = []

    def build() -> None:
        try:
            from app.bootstrap import build_services

            outcome.append(build_services(settings))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=build, name="open-database", daemon=True)
    worker.start()

    def result() -> Services:
        worker.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    return result


def create_application() -> QApplication:
    from PySide6.QtWidgets import QApplication

    from ui.resources import app_icon

    app = QApplication(sys.argv[:1])
    app.setOrganizationName("RxBench")
    app.setApplicationName("RxBench")
    app.setDesktopFileName("rxbench")  # Wayland matches the window to installer/rxbench.desktop
    app.setWindowIcon(app_icon())
    return app


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.smoke:
        exit_without_teardown(run_smoke(arguments.database))
    return run_workstation(arguments.database)


def exit_without_teardown(code: int) -> None:
    """End the smoke run now: everything it opened is closed, and the interpreter's own
    teardown (destroying every module and Qt object, ~150 ms) would only delay the exit."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # a windowed Windows build has no console streams
            stream.flush()
    logging.shutdown()
    os._exit(code)


# --- the workstation --------------------------------------------------------------------------


def run_workstation(database_url: str | None) -> int:
    from app.config import load_settings

    try:
        settings = load_settings(database_url)
    except Exception as exc:  # a hand-edited settings file that does not parse
        from ui.errors import show_error

        create_application()
        show_error(None, exc)
        return EXIT_UNEXPECTED
    configure_logging(settings)
    log.info("RxBench starting on workstation %s", settings.workstation)
    first_attempt = build_services_in_background(settings)
    app = create_application()
    route_qt_messages()
    from ui.errors import install_excepthook

    install_excepthook()
    services = open_services_until_cancelled(settings, first_attempt)
    if services is None:
        return EXIT_ENVIRONMENT_FAULT
    try:
        return _run_signed_in(app, services)
    finally:
        services.close()


def open_services_until_cancelled(
    settings: Settings, first_attempt: Callable[[], Services]
) -> Services | None:
    """Wait for the services; an environment fault offers Retry (which rebuilds) or Quit."""
    from functools import partial

    from PySide6.QtWidgets import QMessageBox

    from app.bootstrap import build_services
    from app.errors import EnvironmentFault
    from ui.errors import explain

    attempt = first_attempt
    while True:
        try:
            return attempt()
        except EnvironmentFault as exc:
            log.warning("cannot open the database: %s", exc.code)
            title, sentence = explain(exc)
            box = QMessageBox(QMessageBox.Icon.Warning, f"RxBench — {title}", sentence)
            box.setAccessibleName(title)
            retry = box.addButton(QMessageBox.StandardButton.Retry)
            box.addButton("&Quit", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(retry)
            box.exec()
            if box.clickedButton() is not retry:
                return None
            attempt = partial(build_services, settings)


def _run_signed_in(app: QApplication, services: Services) -> int:
    from PySide6.QtWidgets import QMessageBox

    from ui.context import UiContext
    from ui.main_window import MainWindow
    from ui.session import SessionController

    for warning in services.warnings:
        QMessageBox.warning(None, "RxBench — warning", warning)
    session = SessionController(services, idle_minutes=services.settings.idle_lock_minutes)
    if not session.start():
        return 0
    window = MainWindow(UiContext.for_services(services), session)
    session.attach(window)
    window.show()
    return app.exec()


# --- the smoke test ---------------------------------------------------------------------------


def run_smoke(database_url: str | None) -> int:
    """Open the window signed in as a smoke-test technician, wait for every dock, report."""
    from app.config import load_settings
    from app.errors import EnvironmentFault

    try:
        settings = load_settings(database_url)
        configure_logging(settings)
        services_ready = build_services_in_background(settings)
        app = create_application()
        route_qt_messages()
        from ui.main_window import MainWindow  # noqa: F401  (imported while the database opens)
        from ui.session import SessionController  # noqa: F401

        services = services_ready()
    except EnvironmentFault as exc:
        print(f"rxbench --smoke: {exc.message}", file=sys.stderr)
        return EXIT_ENVIRONMENT_FAULT
    except Exception as exc:
        log.exception("smoke start-up failed")
        print(f"rxbench --smoke: start-up failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_UNEXPECTED
    try:
        return _smoke_window(app, services)
    finally:
        services.close()


def _smoke_window(app: QApplication, services: Services) -> int:
    from PySide6.QtCore import QTimer

    from app.domain.roles import Role
    from app.errors import RxBenchError
    from app.services.unit_of_work import Actor
    from ui.context import UiContext
    from ui.main_window import MainWindow
    from ui.session import SessionController

    outcome: dict[str, str] = {}

    def ready() -> None:
        window.repaint()  # "ready" means painted with its data, not merely loaded
        outcome["ready"] = f"ready in {round((time.perf_counter() - STARTED) * 1000)} ms"
        app.exit(0)

    def failed(exc: BaseException) -> None:
        if "error" in outcome:
            return
        reason = exc.message if isinstance(exc, RxBenchError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, RxBenchError):
            log.error("a dock failed to load", exc_info=exc)
        outcome["error"] = f"rxbench --smoke: a dock could not load its data: {reason}"
        app.exit(EXIT_LOAD_FAILED)

    def timed_out() -> None:
        outcome["error"] = (
            f"rxbench --smoke: the docks did not load within {SMOKE_TIMEOUT_MS // 1000} s"
        )
        app.exit(EXIT_LOAD_FAILED)

    settings = services.settings
    session = SessionController(services, idle_minutes=settings.idle_lock_minutes)
    context = UiContext.for_services(services)
    window = MainWindow(context, session)
    window.all_docks_loaded.connect(ready)
    window.load_failed.connect(failed)
    QTimer.singleShot(SMOKE_TIMEOUT_MS, timed_out)
    window.show()
    session.sign_in_as(
        Actor(None, "smoke-test", "Smoke test", frozenset({Role.TECHNICIAN}), settings.workstation)
    )
    code = app.exec()
    window.shutdown()
    if "error" in outcome:
        print(outcome["error"], file=sys.stderr)
        return code or EXIT_LOAD_FAILED
    print(outcome["ready"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
