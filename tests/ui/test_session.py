from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMainWindow, QWidget

from app.bootstrap import Services
from app.services.unit_of_work import Actor
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control, fill, shown
from ui.dialogs.first_run import FirstRunDialog
from ui.dialogs.lock import LockDialog
from ui.dialogs.login import LoginDialog
from ui.session import SessionController

PATIENT_DATA_COLOUR = QColor("#ff00ff")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, *, minutes: float) -> None:
        self.now += minutes * 60


def patient_data_window() -> QMainWindow:
    """A stand-in main window whose every pixel of content is the colour of patient data."""
    window = QMainWindow()
    content = QLabel("Jane Doe, DOB 01/02/1960")
    content.setStyleSheet(f"background: {PATIENT_DATA_COLOUR.name()}")
    window.setCentralWidget(content)
    window.resize(600, 400)
    return window


def shows_patient_data(window: QWidget) -> bool:
    image = window.grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    return centre == PATIENT_DATA_COLOUR


def drive_modal(action: Callable[[QDialog], None]) -> None:
    """Act on the dialog that the code under test is about to exec(), then leave it."""

    def run() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog)
        try:
            action(dialog)
        finally:  # never leave the exec() loop waiting if the action failed
            if dialog.isVisible():
                dialog.reject()

    QTimer.singleShot(0, run)


def type_into(qtbot, dialog: QWidget, entries: dict[str, str]) -> None:
    for name, text in entries.items():
        qtbot.keyClicks(control(dialog, name), text)
    qtbot.keyClick(control(dialog, name), Qt.Key.Key_Return)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def controller(qtbot, services: Services, clock: FakeClock) -> Iterator[SessionController]:
    session = SessionController(
        services, idle_minutes=services.settings.idle_lock_minutes, clock=clock
    )
    yield session
    for widget in QApplication.topLevelWidgets():  # dialogs the controller left open
        if isinstance(widget, QDialog):
            widget.done(QDialog.DialogCode.Rejected)
    QApplication.instance().removeEventFilter(session)


@pytest.fixture
def window(qtbot) -> QMainWindow:
    main = patient_data_window()
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main


@pytest.fixture
def signed_in(
    controller: SessionController, window: QMainWindow, technician: Actor
) -> SessionController:
    controller.sign_in_as(technician)
    controller.attach(window)
    return controller


def test_start_runs_first_run_on_an_empty_installation(
    qtbot, services: Services, controller: SessionController
) -> None:
    def set_up(dialog: QDialog) -> None:
        assert isinstance(dialog, FirstRunDialog)
        fill(qtbot, dialog)
        qtbot.keyClick(control(dialog, "Repeat password"), Qt.Key.Key_Return)

    drive_modal(set_up)
    with qtbot.waitSignal(controller.actor_changed) as changed:
        assert controller.start() is True
    assert changed.args[0].username == "jsmith"
    assert controller.actor == changed.args[0]
    assert not services.pharmacy.needs_first_run()


def test_start_signs_in_once_set_up(
    qtbot, services: Services, admin: Actor, controller: SessionController
) -> None:
    def sign_in(dialog: QDialog) -> None:
        assert isinstance(dialog, LoginDialog)
        type_into(qtbot, dialog, {"User name": "admin", "Password": TEST_PASSWORD})

    drive_modal(sign_in)
    assert controller.start() is True
    assert controller.actor is not None
    assert controller.actor.username == "admin"


def test_start_reports_a_cancelled_first_run(
    qtbot, services: Services, controller: SessionController
) -> None:
    drive_modal(lambda dialog: qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Escape))
    assert controller.start() is False
    assert controller.actor is None
    assert services.pharmacy.needs_first_run()


def test_start_reports_a_cancelled_sign_in(
    qtbot, admin: Actor, controller: SessionController
) -> None:
    drive_modal(lambda dialog: qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Escape))
    assert controller.start() is False
    assert controller.actor is None


def test_idle_time_locks_and_hides_every_window(
    qtbot, clock: FakeClock, services: Services, signed_in: SessionController, window: QMainWindow
) -> None:
    second = patient_data_window()
    qtbot.addWidget(second)
    second.show()
    assert shows_patient_data(window)
    clock.advance(minutes=services.settings.idle_lock_minutes - 0.1)
    signed_in.check_idle()
    assert not signed_in.is_locked
    clock.advance(minutes=0.1)
    with qtbot.waitSignal(signed_in.locked, timeout=3000):
        pass  # the session's own timer notices
    assert signed_in.is_locked
    assert not shows_patient_data(window)
    assert not shows_patient_data(second)
    window.resize(900, 700)
    assert not shows_patient_data(window)
    lock = shown(LockDialog)
    assert lock.isModal()
    assert signed_in.actor is not None
    assert signed_in.actor.username == "tess"


@pytest.mark.parametrize(
    "touch",
    [
        lambda qtbot, widget: qtbot.keyClick(widget, Qt.Key.Key_Shift),
        lambda qtbot, widget: qtbot.mouseClick(widget, Qt.MouseButton.LeftButton),
        lambda qtbot, widget: qtbot.mouseMove(widget, widget.rect().topLeft()),
    ],
    ids=["key", "click", "move"],
)
def test_input_restarts_the_idle_time(
    qtbot,
    clock: FakeClock,
    services: Services,
    signed_in: SessionController,
    window: QMainWindow,
    touch: Callable[..., None],
) -> None:
    clock.advance(minutes=services.settings.idle_lock_minutes - 1)
    touch(qtbot, window.centralWidget())
    clock.advance(minutes=2)
    signed_in.check_idle()
    assert not signed_in.is_locked
    clock.advance(minutes=services.settings.idle_lock_minutes)
    signed_in.check_idle()
    assert signed_in.is_locked


@pytest.mark.parametrize("secret", ["2468", TEST_PASSWORD])
def test_unlock_by_pin_or_password_uncovers_the_windows(
    qtbot, services: Services, signed_in: SessionController, window: QMainWindow, secret: str
) -> None:
    services.auth.set_pin(signed_in.actor, password=TEST_PASSWORD, pin="2468")
    signed_in.lock()
    with qtbot.waitSignal(signed_in.unlocked):
        type_into(qtbot, shown(LockDialog), {"Password or PIN": secret})
    assert not signed_in.is_locked
    assert shows_patient_data(window)
    assert signed_in.actor.username == "tess"
    assert audit_trail(services)[-1].action == "unlock.succeeded"


def test_a_wrong_pin_keeps_the_workstation_locked(
    qtbot, services: Services, signed_in: SessionController, window: QMainWindow
) -> None:
    services.auth.set_pin(signed_in.actor, password=TEST_PASSWORD, pin="2468")
    signed_in.lock()
    lock = shown(LockDialog)
    type_into(qtbot, lock, {"Password or PIN": "8642"})
    assert lock.isVisible()
    assert signed_in.is_locked
    assert not shows_patient_data(window)
    assert "attempts left" in control(lock, "Message").text()


def test_switch_user_from_the_lock_screen(
    qtbot,
    services: Services,
    signed_in: SessionController,
    window: QMainWindow,
    pharmacist: Actor,
) -> None:
    signed_in.lock()
    switch = control(shown(LockDialog), "Switch user")
    qtbot.keyClick(switch, Qt.Key.Key_Space)
    assert not shows_patient_data(window)
    login = shown(LoginDialog)
    with (
        qtbot.waitSignal(signed_in.actor_changed) as changed,
        qtbot.waitSignal(signed_in.unlocked),
    ):
        type_into(qtbot, login, {"User name": "phil", "Password": TEST_PASSWORD})
    assert changed.args == [pharmacist]
    assert signed_in.actor == pharmacist
    assert not signed_in.is_locked
    assert shows_patient_data(window)
    trail = [(event.action, event.username) for event in audit_trail(services)]
    assert trail[-2:] == [("logout", "tess"), ("login.succeeded", "phil")]
    assert audit_trail(services)[-2].summary == {"reason": "switch user"}


def test_switch_user_hides_the_windows_until_someone_signs_in(
    qtbot, services: Services, signed_in: SessionController, window: QMainWindow, admin: Actor
) -> None:
    signed_in.switch_user()
    assert signed_in.actor is None
    assert not shows_patient_data(window)
    with qtbot.waitSignal(signed_in.actor_changed):
        type_into(qtbot, shown(LoginDialog), {"User name": "admin", "Password": TEST_PASSWORD})
    assert signed_in.actor == admin
    assert shows_patient_data(window)


def test_giving_up_a_switch_closes_the_window_still_covered(
    qtbot, signed_in: SessionController, window: QMainWindow
) -> None:
    signed_in.switch_user()
    qtbot.keyClick(control(shown(LoginDialog), "User name"), Qt.Key.Key_Escape)
    assert signed_in.actor is None
    assert not window.isVisible()
    assert not shows_patient_data(window)


def test_a_pharmacist_cosigns_for_the_technician(
    qtbot,
    services: Services,
    signed_in: SessionController,
    technician: Actor,
    pharmacist: Actor,
) -> None:
    drive_modal(
        lambda dialog: type_into(
            qtbot, dialog, {"Pharmacist's user name": "phil", "Password": TEST_PASSWORD}
        )
    )
    assert signed_in.cosign(purpose="override the refill-too-soon alert") == pharmacist
    assert signed_in.actor == technician
    event = audit_trail(services)[-1]
    assert (event.action, event.username) == ("cosign", "phil")
    assert event.summary["purpose"] == "override the refill-too-soon alert"


def test_a_technician_cannot_cosign(
    qtbot, services: Services, signed_in: SessionController, technician: Actor
) -> None:
    seen: dict[str, object] = {}

    def try_own_credentials(dialog: QDialog) -> None:
        type_into(qtbot, dialog, {"Pharmacist's user name": "tess", "Password": TEST_PASSWORD})
        seen["still open"] = dialog.isVisible()
        seen["message"] = control(dialog, "Message").text()

    drive_modal(try_own_credentials)
    assert signed_in.cosign(purpose="override the refill-too-soon alert") is None
    assert seen["still open"] is True
    assert "Only a pharmacist may co-sign" in str(seen["message"])
    assert signed_in.actor == technician
    assert "cosign" not in [event.action for event in audit_trail(services)]
